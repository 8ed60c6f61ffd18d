"""What the pki role's modules (netlab_pki_keys, netlab_pki_sign) share: keys and files."""

from __future__ import annotations

import os
import tempfile

try:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed448, ed25519, rsa

    HAS_CRYPTOGRAPHY = True
except ImportError:  # each module reports it
    HAS_CRYPTOGRAPHY = False

KEY_TYPES = ["RSA", "Ed25519", "Ed448"]
# The key options of the modules that make keys (netlab_pki_keys, netlab_pki_sign).
KEY_OPTIONS = {
    "key_type": {"type": "str", "choices": KEY_TYPES, "default": "RSA"},
    "key_size": {"type": "int", "default": 2048},
}


def module_files(module) -> Files:
    """The module's file writer (check mode honoured); fails the module without cryptography."""
    if not HAS_CRYPTOGRAPHY:
        module.fail_json(msg="the Python library cryptography is missing (python3-cryptography)")
    return Files(module.check_mode)
# Every file and directory the role writes belongs to root (the modules run as root;
# a test run by another user owns what it writes).
OWNER = (0, 0) if os.geteuid() == 0 else (os.geteuid(), os.getegid())


def key_fits(key, key_type: str, key_size: int) -> bool:
    """Whether a loaded private key is of the wanted type (and size, for RSA)."""
    if key_type == "RSA":
        return isinstance(key, rsa.RSAPrivateKey) and key.key_size == key_size
    if key_type == "Ed25519":
        return isinstance(key, ed25519.Ed25519PrivateKey)
    return isinstance(key, ed448.Ed448PrivateKey)


def new_key(key_type: str, key_size: int):
    if key_type == "RSA":
        return rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    if key_type == "Ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    return ed448.Ed448PrivateKey.generate()


def key_pem(key) -> bytes:
    """PEM as openssl_privatekey wrote it: PKCS#1 for RSA, PKCS#8 otherwise."""
    fmt = (serialization.PrivateFormat.TraditionalOpenSSL if isinstance(key, rsa.RSAPrivateKey)
           else serialization.PrivateFormat.PKCS8)
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())


def load_key(path: str, key_type: str, key_size: int):
    """The private key at `path` if it is there, readable and of the wanted type and size; else None."""
    data = read(path)
    if data is None:
        return None
    try:
        key = serialization.load_pem_private_key(data, None)
    except (ValueError, TypeError):
        return None
    return key if key_fits(key, key_type, key_size) else None


def read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def write(path: str, data: bytes, mode: int) -> None:
    """Atomically (a temporary file beside it, renamed), with `mode` from the start."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".netlab_pki.")
    try:
        os.fchown(fd, *OWNER)
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class Files:
    """Writes files (or, in check mode, only notes them), and remembers what it wrote."""

    def __init__(self, check_mode: bool) -> None:
        self.check_mode = check_mode
        self.written: list[str] = []

    def mode(self, path: str, mode: int, owned: bool = True) -> None:
        """The file's mode, and (owned) root as its owner and group. A private key keeps
        its owner: the unit that reads it may own it (the etcd role gives etcd its keys)."""
        st = os.stat(path)
        if st.st_mode & 0o7777 != mode or (owned and (st.st_uid, st.st_gid) != OWNER):
            self.written.append(path)
            if not self.check_mode:
                if owned:
                    os.chown(path, *OWNER)
                os.chmod(path, mode)

    def content(self, path: str, data: bytes, mode: int) -> bool:
        """Write `data` unless the file holds it already (then only its mode); True if the content changed."""
        if read(path) == data:
            self.mode(path, mode)
            return False
        self.written.append(path)
        if not self.check_mode:
            write(path, data, mode)
        return True

    def key(self, path: str, key_type: str, key_size: int):
        """The key at `path`, made (and written, unless in check mode) if missing or unfit; mode 0600."""
        key = load_key(path, key_type, key_size)
        if key is not None:
            self.mode(path, 0o600, owned=False)
            return key
        key = new_key(key_type, key_size)
        self.content(path, key_pem(key), 0o600)
        return key

    def directory(self, path: str) -> None:
        if not os.path.isdir(path):
            self.written.append(path)
            if not self.check_mode:
                os.makedirs(path, 0o755, exist_ok=True)
                os.chown(path, *OWNER)
                os.chmod(path, 0o755)
        else:
            self.mode(path, 0o755)
