"""The pki role's batch modules (roles/pki/library): the requests a host builds, and the
CA host's decision to keep a certificate or sign it again - with keys, requests and
certificates made here with cryptography."""

from __future__ import annotations

import datetime
import os
import sys
from pathlib import Path

import ansible.module_utils
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ROLE = Path(__file__).resolve().parents[2] / "roles" / "pki"
# As Ansible does for a role's modules: its module_utils join ansible.module_utils.
ansible.module_utils.__path__.append(str(ROLE / "module_utils"))
sys.path.insert(0, str(ROLE / "library"))

from ansible.module_utils.netlab_pki import Files, key_pem, load_key, new_key  # noqa: E402
from netlab_pki_keys import build_csr  # noqa: E402
from netlab_pki_sign import ca_fits, issued_by, self_signed_ca, sign, sign_reason  # noqa: E402

NOW = datetime.datetime.now(datetime.UTC)
SANS = ["DNS:node2", "IP:192.168.1.130"]


@pytest.fixture(scope="module")
def ca():
    key = new_key("RSA", 2048)
    return self_signed_ca(key, "netlab-kubernetes-ca", 3650), key


@pytest.fixture(scope="module")
def other_ca():
    key = new_key("RSA", 2048)
    return self_signed_ca(key, "netlab-kubernetes-ca", 3650), key


@pytest.fixture(scope="module")
def key():
    return new_key("RSA", 2048)


@pytest.fixture(scope="module")
def csr(key):
    return build_csr(key, "node2", None, SANS, ["serverAuth"])


@pytest.fixture(scope="module")
def cert(csr, ca):
    return sign(csr, ca[0], ca[1], 365)


def test_the_request_has_the_subject_and_extensions_the_role_asks_for(key):
    req = x509.load_pem_x509_csr(build_csr(key, "system:node:node2", "system:nodes", [], ["clientAuth"]).encode())
    assert req.is_signature_valid
    assert [(a.oid, a.value) for a in req.subject] == [
        (NameOID.ORGANIZATION_NAME, "system:nodes"), (NameOID.COMMON_NAME, "system:node:node2")]
    usage = req.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and usage.value.key_encipherment
    assert list(req.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH]
    assert not req.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    with pytest.raises(x509.ExtensionNotFound):
        req.extensions.get_extension_for_class(x509.SubjectAlternativeName)


def test_a_signed_certificate_is_of_the_request_and_its_ca(cert, csr, key, ca):
    got = x509.load_pem_x509_certificate(cert.encode())
    assert issued_by(got, ca[0])
    assert got.public_key().public_numbers() == key.public_key().public_numbers()
    assert got.subject == x509.load_pem_x509_csr(csr.encode()).subject
    assert {str(n.value) for n in got.extensions.get_extension_for_class(x509.SubjectAlternativeName).value} == {
        "node2", "192.168.1.130"}
    days = (got.not_valid_after_utc - got.not_valid_before_utc).days
    assert days == 365
    got.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    got.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)


def test_a_certificate_that_still_fits_is_kept(cert, csr, ca):
    assert sign_reason(cert, csr, ca[0], False, 90) is None


def test_no_certificate_yet_is_signed(csr, ca):
    assert sign_reason(None, csr, ca[0], False, 90) == "no certificate yet"


def test_a_named_certificate_is_signed_again(cert, csr, ca):
    assert sign_reason(cert, csr, ca[0], True, 90) == "named in pki_renew"


def test_a_certificate_due_is_signed_again_and_one_not_due_is_kept(csr, ca):
    short = sign(csr, ca[0], ca[1], 30)
    assert sign_reason(short, csr, ca[0], False, 90) == "it ends within 90 days"
    assert sign_reason(short, csr, ca[0], False, 29) is None


@pytest.mark.parametrize(("change", "reason"), [
    ({"cn": "node3"}, "another subject"),
    ({"o": "system:nodes"}, "another subject"),
    ({"sans": ["DNS:node2"]}, "another subjectAltName"),
    ({"usage": ["clientAuth"]}, "another extendedKeyUsage"),
    ({"key": True}, "another key"),
])
def test_a_certificate_that_no_longer_fits_its_request_is_signed_again(cert, key, ca, change, reason):
    request_key = new_key("RSA", 2048) if change.get("key") else key
    csr = build_csr(request_key, change.get("cn", "node2"), change.get("o"), change.get("sans", SANS),
                    change.get("usage", ["serverAuth"]))
    assert reason in sign_reason(cert, csr, ca[0], False, 90)


def test_the_order_of_sans_does_not_matter(cert, key, ca):
    assert sign_reason(cert, build_csr(key, "node2", None, SANS[::-1], ["serverAuth"]), ca[0], False, 90) is None


def test_a_certificate_of_another_ca_is_signed_again(cert, csr, other_ca):
    assert sign_reason(cert, csr, other_ca[0], False, 90) == "another CA"


def test_a_ca_is_kept_with_its_key_and_name_only(ca, other_ca):
    assert ca_fits(ca[0], ca[1], "netlab-kubernetes-ca")
    assert not ca_fits(ca[0], ca[1], "netlab-etcd-ca")
    assert not ca_fits(ca[0], other_ca[1], "netlab-kubernetes-ca")


def test_keys_are_made_once_mode_0600_and_check_mode_writes_nothing(tmp_path):
    path = str(tmp_path / "k.key")
    dry = Files(check_mode=True)
    dry.key(path, "RSA", 2048)
    assert dry.written == [path] and not os.path.exists(path)
    files = Files(check_mode=False)
    made = files.key(path, "RSA", 2048)
    assert files.written == [path] and os.stat(path).st_mode & 0o777 == 0o600
    assert Path(path).read_bytes().startswith(b"-----BEGIN RSA PRIVATE KEY-----")
    again = Files(check_mode=False)
    kept = again.key(path, "RSA", 2048)
    assert again.written == [] and key_pem(kept) == key_pem(made)
    assert load_key(path, "RSA", 4096) is None  # another size: made again


def test_a_file_is_written_only_when_its_content_changes(tmp_path):
    path = str(tmp_path / "c.crt")
    assert Files(False).content(path, b"one\n", 0o644)
    again = Files(False)
    assert not again.content(path, b"one\n", 0o644) and again.written == []
    os.chmod(path, 0o600)
    fix = Files(False)
    assert not fix.content(path, b"one\n", 0o644) and fix.written == [path]
    assert os.stat(path).st_mode & 0o777 == 0o644
    dry = Files(True)
    assert dry.content(path, b"two\n", 0o644) and Path(path).read_bytes() == b"one\n"


def test_the_modules_pem_is_what_openssl_reads(cert):
    assert x509.load_pem_x509_certificate(cert.encode()).public_bytes(serialization.Encoding.PEM).decode() == cert
