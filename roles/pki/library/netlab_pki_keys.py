#!/usr/bin/python
"""One host's private keys and signing requests, in one module run."""

from __future__ import annotations

DOCUMENTATION = r"""
module: netlab_pki_keys
short_description: Make sure a host's private keys exist; return a signing request for each certificate
description:
  - Creates the directories in O(directories) (C(root:root), mode C(0755)) if they are missing.
  - For every entry of O(certs), makes sure its private key exists at RV(requests[].name)'s C(key)
    path (created when missing, or when the key there is not of type O(key_type) and size
    O(key_size) or cannot be read; an existing matching key is kept), mode C(0600), and builds a
    certificate signing request for it in memory - subject O and CN, the SANs, key usage
    C(digitalSignature), C(keyEncipherment) (critical), the extended key usages, C(CA:FALSE). The
    request and the certificate now at the C(cert) path (or none) are returned, never the key.
  - Every entry of O(keys) is a key without a certificate (the service-account key); with
    C(public), its public half is written there too (PEM, mode C(0644)).
  - Reports changed when a directory, key or public half was written (or its mode fixed); in
    check mode it writes nothing, and a request for a missing key is built from a key made in
    memory only.
options:
  certs:
    description: The host's certificates (the pki role's table; C(units) is not this module's and is ignored).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: "The certificate's name: its key is O(key_files)[name], its certificate O(cert_files)[name]."
        type: str
        required: true
      ca: {description: Name of the CA that signs it (returned as is)., type: str, required: true}
      cn: {description: Subject common name., type: str, required: true}
      o: {description: Subject organization., type: str}
      sans:
        description: "Subject alternative names: C(DNS:<name>), C(IP:<address>), C(email:), C(URI:)."
        type: list
        elements: str
        default: []
      usage: {description: "Extended key usages: C(serverAuth), C(clientAuth).", type: list, elements: str, default: []}
      units: {description: Ignored., type: list, elements: str, default: []}
  key_files:
    description: Path of each certificate's private key, by name.
    type: dict
    required: true
  cert_files:
    description: Path of each certificate, by name (read if it is there).
    type: dict
    required: true
  renew:
    description: >-
      Names of the certificates to sign again whatever their state (C(all) - every one);
      returned as each request's C(renew).
    type: list
    elements: str
    default: []
  keys:
    description: Keys without a certificate.
    type: list
    elements: dict
    default: []
    suboptions:
      path: {description: Path of the private key., type: path, required: true}
      public: {description: Where to write its public half (PEM); none if unset., type: path}
  directories:
    description: Directories to create first (C(root:root), mode C(0755)).
    type: list
    elements: path
    default: []
  key_type:
    description: Type of every key.
    type: str
    choices: [RSA, Ed25519, Ed448]
    default: RSA
  key_size:
    description: Size of every RSA key, in bits.
    type: int
    default: 2048
author: k8s-netlab
"""

EXAMPLES = r"""
- name: Make this host's keys and signing requests
  netlab_pki_keys:
    directories: [/etc/kubernetes/pki]
    certs:
      - {name: kube-proxy, ca: kubernetes, cn: system:kube-proxy, usage: [clientAuth]}
    key_files: {kube-proxy: /etc/kubernetes/pki/kube-proxy.key}
    cert_files: {kube-proxy: /etc/kubernetes/pki/kube-proxy.crt}
    renew: [kube-proxy]
    keys:
      - {path: /etc/kubernetes/pki/sa.key, public: /etc/kubernetes/pki/sa.pub}
  register: pki_requests
"""

RETURN = r"""
requests:
  description:
    - Per certificate, in the order of O(certs) - its name, CA and renew flag as given, the
      request (PEM) and the certificate now in place (PEM, or none).
  returned: always
  type: list
  elements: dict
  sample: [{"name": "kube-proxy", "ca": "kubernetes", "renew": false, "csr": "-----BEGIN CERTIFICATE REQUEST-----...",
            "current": "-----BEGIN CERTIFICATE-----..."}]
written:
  description: The paths written (or, in check mode, that would be).
  returned: always
  type: list
  elements: str
"""

import ipaddress

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.netlab_pki import HAS_CRYPTOGRAPHY, KEY_OPTIONS, module_files, read

if HAS_CRYPTOGRAPHY:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

EKU = {"serverAuth": "SERVER_AUTH", "clientAuth": "CLIENT_AUTH", "codeSigning": "CODE_SIGNING",
       "emailProtection": "EMAIL_PROTECTION"}


def public_pem(key) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def general_name(san: str) -> x509.GeneralName:
    kind, _, value = san.partition(":")
    if kind == "DNS":
        return x509.DNSName(value)
    if kind == "IP":
        return x509.IPAddress(ipaddress.ip_address(value))
    if kind == "email":
        return x509.RFC822Name(value)
    if kind == "URI":
        return x509.UniformResourceIdentifier(value)
    raise ValueError(f"unsupported subject alternative name {san!r} (DNS:, IP:, email:, URI:)")


def build_csr(key, cn: str, o: str | None = None, sans=(), usage=()) -> str:
    """The request openssl_csr_pipe made: subject O, CN; SANs; KU (critical); EKU; CA:FALSE."""
    subject = ([x509.NameAttribute(NameOID.ORGANIZATION_NAME, o)] if o else []) + [
        x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(subject))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName([general_name(s) for s in sans]), critical=False)
    builder = builder.add_extension(x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=True, data_encipherment=False,
        key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False),
        critical=True)
    if usage:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([getattr(ExtendedKeyUsageOID, EKU[u]) for u in usage]), critical=False)
    builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=False)
    algorithm = hashes.SHA256() if isinstance(key, rsa.RSAPrivateKey) else None
    return builder.sign(key, algorithm).public_bytes(serialization.Encoding.PEM).decode()


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "certs": {"type": "list", "elements": "dict", "default": [], "options": {
                "name": {"type": "str", "required": True},
                "ca": {"type": "str", "required": True},
                "cn": {"type": "str", "required": True},
                "o": {"type": "str"},
                "sans": {"type": "list", "elements": "str", "default": []},
                "usage": {"type": "list", "elements": "str", "default": []},
                "units": {"type": "list", "elements": "str", "default": []},
            }},
            "key_files": {"type": "dict", "required": True, "no_log": False},
            "cert_files": {"type": "dict", "required": True},
            "renew": {"type": "list", "elements": "str", "default": []},
            "keys": {"type": "list", "elements": "dict", "default": [], "no_log": False, "options": {
                "path": {"type": "path", "required": True},
                "public": {"type": "path"},
            }},
            "directories": {"type": "list", "elements": "path", "default": []},
            **KEY_OPTIONS,
        },
        supports_check_mode=True,
    )
    params = module.params
    files = module_files(module)
    for path in params["directories"]:
        files.directory(path)
    requests = []
    for cert in params["certs"]:
        unknown = [u for u in cert["usage"] if u not in EKU]
        if unknown:
            module.fail_json(msg=f"{cert['name']}: unknown extended key usage {unknown} (one of {sorted(EKU)})")
        if cert["name"] not in params["key_files"] or cert["name"] not in params["cert_files"]:
            module.fail_json(msg=f"{cert['name']}: no path in key_files or cert_files")
        key = files.key(params["key_files"][cert["name"]], params["key_type"], params["key_size"])
        try:
            csr = build_csr(key, cert["cn"], cert["o"], cert["sans"], cert["usage"])
        except ValueError as exc:
            module.fail_json(msg=f"{cert['name']}: {exc}")
        current = read(params["cert_files"][cert["name"]])
        renew = cert["name"] in params["renew"] or "all" in params["renew"]
        requests.append({"name": cert["name"], "ca": cert["ca"], "renew": renew, "csr": csr,
                         "current": current.decode() if current else None})
    for entry in params["keys"]:
        key = files.key(entry["path"], params["key_type"], params["key_size"])
        if entry["public"]:
            files.content(entry["public"], public_pem(key), 0o644)
    module.exit_json(changed=bool(files.written), requests=requests, written=files.written)


if __name__ == "__main__":
    main()
