"""Lab step "cluster": every certificate and kubeconfig the pki role made is in place,
valid for more than 30 days, and chains to its CA.

The expected set is the pki role's own table (roles/pki/vars/main.yml: the control-plane
and node certificates, the kubeconfigs, the two CAs) for the groups each node is in, so a
certificate that is missing - or one on a node that nothing checks - fails too. Where the
files are (pki_dir, pki_kubeconfig_dir), which host holds the CAs and where the admin
kubeconfig is exported are the role's defaults as the inventory sets them.

The certificates are read from the nodes; private keys never leave them (only their
public halves, `openssl pkey -pubout` on the node). Each chain is checked with
`openssl verify` against the CA host's own CA certificate - etcd's for etcd's - and the
purposes the table gives (serverAuth, clientAuth).
"""

from __future__ import annotations

import base64
import datetime
import functools
import json
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from netlab_tests.ansible import playbook_run
from netlab_tests.lab import REPO, Lab

ROLE = REPO / "roles" / "pki"
# More than this many days left, on every certificate; the role renews well before
# (pki_renew_before_days), so a converged lab never comes near.
MIN_DAYS_LEFT = 30
PURPOSES = {"serverAuth": "sslserver", "clientAuth": "sslclient"}


# -- what the role makes, where ------------------------------------------------------

@functools.cache
def role_table() -> dict:
    return yaml.safe_load((ROLE / "vars" / "main.yml").read_text())


@functools.cache
def role_defaults() -> dict:
    return yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())


def _default_expr(name: str) -> str:
    """The role default of `name` as a Jinja expression (a template's inside, or a literal)."""
    raw = role_defaults()[name]
    match = re.fullmatch(r"\{\{(.*)\}\}", raw.strip()) if isinstance(raw, str) else None
    return match.group(1).strip() if match else json.dumps(raw)


@dataclass(frozen=True)
class Pki:
    """The pki role's settings on one host, as Ansible resolves them."""

    dir: str
    kubeconfig_dir: str
    ca_host: str
    export: str  # where the admin kubeconfig is exported on this machine ("" if not)


@functools.cache
def _settings(inventory: str) -> dict[str, Pki]:
    """Render the role's variables for every node: the inventory's values, else the defaults."""
    names = {"dir": "pki_dir", "kubeconfig_dir": "pki_kubeconfig_dir", "ca_host": "pki_ca_host",
             "export": "pki_admin_kubeconfig_export"}
    expr = ", ".join(f"'{key}': ({var} | default({_default_expr(var)}))" for key, var in names.items())
    out = subprocess.run(
        ["ansible", "-i", inventory, "nodes", "--playbook-dir", str(REPO / "playbooks"),
         "-m", "ansible.builtin.debug", "-a", f"msg={{{{ {{{expr}}} }}}}"],
        check=True, capture_output=True, text=True, cwd=REPO,
        env={**os.environ, "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1", "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
             "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.json"},
    ).stdout
    data = json.loads(out)
    return {host: Pki(**result["msg"]) for play in data["plays"] for task in play["tasks"]
            for host, result in task["hosts"].items()}


@dataclass(frozen=True)
class Cert:
    name: str  # path under pki_dir without .crt / .key
    ca: str  # path under pki_dir of its CA, without .crt
    purposes: tuple[str, ...]


def ca_paths() -> dict[str, str]:
    return {ca["name"]: ca["path"] for ca in role_table()["pki_cas"]}


def expected_certs(lab: Lab, host: str) -> list[Cert]:
    table = role_table()
    entries = ((table["pki_control_plane_certs"] if host in lab.control_plane else [])
               + (table["pki_node_certs"] if host in lab.nodes else []))
    return [Cert(e["name"], ca_paths()[e["ca"]], tuple(PURPOSES[u] for u in e["usage"])) for e in entries]


def expected_kubeconfigs(lab: Lab, host: str) -> dict[str, str]:
    """Kubeconfig name -> the certificate it authenticates with."""
    table = role_table()
    entries = ((table["pki_control_plane_kubeconfigs"] if host in lab.control_plane else [])
               + (table["pki_node_kubeconfigs"] if host in lab.nodes else []))
    return {e["name"]: e["cert"] for e in entries}


def expected_cas(host: str, ca_host: str) -> set[str]:
    """The CA certificates on a host: both on the CA host, the cluster CA's elsewhere."""
    return set(ca_paths().values()) if host == ca_host else {ca_paths()["kubernetes"]}


# -- what is on the nodes --------------------------------------------------------------

def _sections(text: str) -> dict[str, str]:
    """Split `=== <name>` headed output into {name: body}."""
    parts = re.split(r"^=== (.+)$", text, flags=re.MULTILINE)
    return {parts[i].strip(): parts[i + 1].strip() + "\n" for i in range(1, len(parts), 2)}


def _by_name(listing: str, ext: str) -> dict[str, str]:
    """`=== ./etcd/server.crt` sections -> {"etcd/server": body}."""
    return {name.removeprefix("./").removesuffix(ext): body for name, body in _sections(listing).items()}


@dataclass
class NodePki:
    settings: Pki
    certs: dict[str, str]  # name (under pki_dir, no .crt) -> PEM
    pubkeys: dict[str, str]  # name (under pki_dir, no .key) -> public key PEM of the key


@pytest.fixture(scope="module")
def settings(lab) -> dict[str, Pki]:
    return _settings(lab.inventory)


@pytest.fixture(scope="module")
def on_node(nodes, settings):
    """node name -> its certificates and its keys' public halves, read once."""
    cache: dict[str, NodePki] = {}

    def read(name: str) -> NodePki:
        if name not in cache:
            pki = settings[name].dir
            host = nodes[name]
            certs = host.check_output(
                "cd %s && for f in $(find . -name '*.crt' | sort); do echo \"=== $f\"; cat \"$f\"; done", pki)
            keys = host.check_output(
                "cd %s && for f in $(find . -name '*.key' | sort); do "
                "echo \"=== $f\"; openssl pkey -in \"$f\" -pubout; done",
                pki)
            cache[name] = NodePki(settings[name], _by_name(certs, ".crt"), _by_name(keys, ".key"))
        return cache[name]

    return read


@pytest.fixture(scope="module")
def ca_certs(lab, settings, on_node) -> dict[str, str]:
    """CA path -> the CA host's CA certificate (PEM): the trust anchors."""
    ca_host = settings[lab.control_plane[0]].ca_host
    held = on_node(ca_host).certs
    missing = set(ca_paths().values()) - set(held)
    assert not missing, f"the CA host {ca_host} holds no {sorted(missing)}"
    return {path: held[path] for path in ca_paths().values()}


# -- checks ----------------------------------------------------------------------------

def days_left(pem: str) -> float:
    cert = x509.load_pem_x509_certificate(pem.encode())
    return (cert.not_valid_after_utc - datetime.datetime.now(datetime.UTC)).total_seconds() / 86400


def openssl_verify(ca_pem: str, pem: str, purpose: str | None = None) -> tuple[bool, str]:
    """`openssl verify` of a certificate against exactly one CA (no system store)."""
    with tempfile.TemporaryDirectory() as tmp:
        ca, cert = Path(tmp, "ca.crt"), Path(tmp, "cert.crt")
        ca.write_text(ca_pem)
        cert.write_text(pem)
        args = ["openssl", "verify", "-no-CApath", "-no-CAstore", "-CAfile", str(ca)]
        args += ["-purpose", purpose] if purpose else []
        proc = subprocess.run([*args, str(cert)], capture_output=True, text=True)
    return proc.returncode == 0 and proc.stdout.strip().endswith(": OK"), (proc.stdout + proc.stderr).strip()


def same_pem(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a.strip() == b.strip()


def _spki(key) -> str:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def public_key_pem(pem: str) -> str:
    return _spki(x509.load_pem_x509_certificate(pem.encode()).public_key())


def current_user(config: dict) -> dict:
    """The user entry of a kubeconfig's current context."""
    context = next(c["context"] for c in config["contexts"] if c["name"] == config["current-context"])
    return next(u["user"] for u in config["users"] if u["name"] == context["user"])


def cert_problems(what: str, pem: str, ca_pem: str, purposes=(), key_pubout: str | None = None) -> list[str]:
    """Everything wrong with one certificate: lifetime, chain (per purpose), key."""
    problems = []
    left = days_left(pem)
    if left <= MIN_DAYS_LEFT:
        problems.append(f"{what}: {left:.1f} days left (needs more than {MIN_DAYS_LEFT})")
    for purpose in purposes or (None,):
        ok, out = openssl_verify(ca_pem, pem, purpose)
        if not ok:
            problems.append(f"{what}: does not verify against its CA{f' for {purpose}' if purpose else ''}: {out}")
    if key_pubout is not None and not same_pem(key_pubout, public_key_pem(pem)):
        problems.append(f"{what}: its private key does not match it")
    return problems


# -- the certificates ------------------------------------------------------------------

def test_every_certificate_of_the_role_and_no_other_is_on_the_node(lab, settings, on_node, node_name):
    node = on_node(node_name)
    certs = {c.name for c in expected_certs(lab, node_name)}
    expected = certs | expected_cas(node_name, settings[node_name].ca_host)
    assert set(node.certs) == expected, (
        f"missing: {sorted(expected - set(node.certs))}, not the role's: {sorted(set(node.certs) - expected)}")
    missing_keys = certs - set(node.pubkeys)
    assert not missing_keys, f"certificates without their key in {node.settings.dir}: {sorted(missing_keys)}"


def test_every_certificate_is_valid_for_more_than_30_days_and_chains_to_its_ca(lab, on_node, ca_certs, node_name):
    node = on_node(node_name)
    problems = []
    checked = 0
    for cert in expected_certs(lab, node_name):
        if cert.name not in node.certs:
            problems.append(f"{cert.name}: missing from {node.settings.dir}")
            continue
        problems += cert_problems(f"{node_name}:{node.settings.dir}/{cert.name}.crt", node.certs[cert.name],
                                  ca_certs[cert.ca], cert.purposes, node.pubkeys.get(cert.name, ""))
        checked += 1
    assert not problems, "\n".join(problems)
    assert checked == len(expected_certs(lab, node_name)) > 0


def test_the_cas_on_the_node_are_the_ca_hosts_valid_for_more_than_30_days(lab, settings, on_node, ca_certs,
                                                                             node_name):
    node = on_node(node_name)
    problems = []
    for path in sorted(expected_cas(node_name, settings[node_name].ca_host)):
        pem = node.certs.get(path)
        if not same_pem(pem, ca_certs[path]):
            problems.append(f"{node_name}:{path}.crt is not the CA host's ({settings[node_name].ca_host})")
            continue
        problems += cert_problems(f"{node_name}:{path}.crt", pem, pem)  # self-signed: its own anchor
        if not x509.load_pem_x509_certificate(pem.encode()).extensions.get_extension_for_class(
                x509.BasicConstraints).value.ca:
            problems.append(f"{node_name}:{path}.crt is not a CA certificate")
    assert not problems, "\n".join(problems)


# -- the kubeconfigs -------------------------------------------------------------------

def kubeconfig_problems(what: str, config: dict, read_file, read_pubkey, cluster_ca: str) -> list[str]:
    """The current context's cluster CA is the cluster CA; its client certificate and key
    (embedded, or files the config names) are valid, chain to it and belong together."""
    try:
        context = next(c["context"] for c in config["contexts"] if c["name"] == config["current-context"])
        cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
        user = current_user(config)
    except (KeyError, StopIteration, TypeError) as exc:
        return [f"{what}: no usable current context ({exc!r})"]

    def material(entry: dict, key: str) -> str | None:
        if f"{key}-data" in entry:
            return base64.b64decode(entry[f"{key}-data"]).decode()
        return read_file(entry[key]) if key in entry else None

    problems = []
    if not cluster.get("server", "").startswith("https://"):
        problems.append(f"{what}: server {cluster.get('server')!r} is not https")
    if not same_pem(material(cluster, "certificate-authority"), cluster_ca):
        problems.append(f"{what}: its certificate authority is not the cluster CA")
    cert = material(user, "client-certificate")
    if cert is None:
        return [*problems, f"{what}: no client certificate"]
    if "client-key-data" in user:
        pubkey = _spki(load_pem_private_key(base64.b64decode(user["client-key-data"]), None).public_key())
    elif "client-key" in user:
        pubkey = read_pubkey(user["client-key"])
    else:
        return [*problems, f"{what}: no client key"]
    return problems + cert_problems(f"{what} (client certificate)", cert, cluster_ca, ("sslclient",), pubkey)


def test_every_kubeconfig_trusts_the_cluster_ca_with_a_valid_client_certificate(lab, nodes, on_node, ca_certs,
                                                                                node_name):
    host, node = nodes[node_name], on_node(node_name)
    cluster_ca = ca_certs[ca_paths()["kubernetes"]]
    expected = expected_kubeconfigs(lab, node_name)
    found = {Path(p).name.removesuffix(".kubeconfig") for p in host.check_output(
        "find %s -maxdepth 1 -name '*.kubeconfig'", node.settings.kubeconfig_dir).split()}
    assert found == set(expected), \
        f"missing: {sorted(set(expected) - found)}, not the role's: {sorted(found - set(expected))}"

    def read_file(path: str) -> str:
        return host.check_output("cat %s", path) + "\n"

    def read_pubkey(path: str) -> str:
        return host.check_output("openssl pkey -in %s -pubout", path) + "\n"

    problems = []
    for name, cert in expected.items():
        path = f"{node.settings.kubeconfig_dir}/{name}.kubeconfig"
        config = yaml.safe_load(host.check_output("cat %s", path))
        problems += kubeconfig_problems(f"{node_name}:{path}", config, read_file, read_pubkey, cluster_ca)
        # It authenticates with the role's certificate for it, the one on disk.
        user = current_user(config)
        if "client-certificate" in user and user["client-certificate"] != f"{node.settings.dir}/{cert}.crt":
            problems.append(f"{node_name}:{path}: client certificate {user['client-certificate']}, "
                            f"not {node.settings.dir}/{cert}.crt")
    assert not problems, "\n".join(problems)


def test_the_exported_admin_kubeconfig_is_valid_and_current(lab, settings, on_node, ca_certs):
    ca_host = settings[lab.control_plane[0]].ca_host
    export = settings[ca_host].export
    if not export:
        pytest.skip("the inventory exports no admin kubeconfig (pki_admin_kubeconfig_export is empty)")
    path = Path(export)
    assert path.is_file(), f"{path} is missing"
    assert path.stat().st_mode & 0o077 == 0, f"{path} is readable by others ({oct(path.stat().st_mode)})"
    config = yaml.safe_load(path.read_text())

    def read_file(p: str) -> str:
        return Path(p).read_text()

    def read_pubkey(p: str) -> str:
        return _spki(load_pem_private_key(Path(p).read_bytes(), None).public_key())

    problems = kubeconfig_problems(str(path), config, read_file, read_pubkey, ca_certs[ca_paths()["kubernetes"]])
    assert not problems, "\n".join(problems)
    # The admin's certificate now on the CA host (renewed or not), not an older one.
    user = current_user(config)
    exported = (base64.b64decode(user["client-certificate-data"]).decode() if "client-certificate-data" in user
                else read_file(user["client-certificate"]))
    assert same_pem(exported, on_node(ca_host).certs["admin"]), \
        f"{path} holds another admin certificate than {ca_host}'s"


# -- the renewal's settings ------------------------------------------------------------

@pytest.mark.parametrize(("extra", "sentence"), [
    ({"pki_renew": ["apiservr"]}, "pki_renew names no certificate of the lab: apiservr"),
    ({"pki_renew": ["nosuchhost:apiserver"]}, "pki_renew names no certificate of the lab: nosuchhost:apiserver"),
    ({"pki_renew_before_days": 365, "pki_cert_valid_days": 365},
     "pki_renew_before_days (365) must be less than pki_cert_valid_days (365)"),
], ids=["unknown-name", "unknown-host", "threshold-not-below-lifetime"])
def test_a_bad_renewal_setting_stops_the_run_before_anything_changes(lab, extra, sentence):
    proc = playbook_run(lab, "certs.yml", "-e", json.dumps(extra))
    assert proc.returncode != 0, proc.stdout[-2000:]
    assert sentence in proc.stdout, proc.stdout[-2000:]
    recap = dict(re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", proc.stdout, re.M))
    assert recap and set(recap.values()) == {"0"}, proc.stdout[-2000:]
    # It stopped at its first check: no task that acts on a host ran.
    assert "Install the crypto library" not in proc.stdout, proc.stdout[-2000:]
