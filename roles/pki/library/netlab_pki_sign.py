#!/usr/bin/python
"""The CA host's side: the authorities, and every host's certificates signed in one run."""

from __future__ import annotations

DOCUMENTATION = r"""
module: netlab_pki_sign
short_description: Make sure the certificate authorities exist; sign every request that needs it
description:
  - For every entry of O(cas), makes sure the CA's private key (mode C(0600)) and self-signed
    certificate (mode C(0644), C(CA:TRUE) and key usages C(keyCertSign), C(cRLSign),
    C(digitalSignature), all critical, valid O(ca_valid_days)) exist on this host. An existing
    CA certificate is kept while it matches its key and subject CN; CAs are never renewed.
  - For every request of O(requests), keeps the host's current certificate when it still matches
    the request - the same public key, subject, SANs, key usage and extended key usage and basic
    constraints - is issued by the request's CA (issuer and signature), does not end within
    O(renew_before_days) days, and C(renew) is false. Otherwise it signs the request with the CA,
    for the same key, valid O(valid_days) from now.
  - Signing writes nothing; only the CA files are written. Reports changed when a CA file was
    written or a certificate signed. In check mode, a missing CA is made in memory only.
options:
  cas:
    description: The certificate authorities, by name.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: "The CA's name, as a request's C(ca) gives it; its files: O(cert_files)[name], O(key_files)[name]."
        type: str
        required: true
      cn: {description: Its subject common name., type: str, required: true}
      path: {description: Ignored (the role's table names the files under its directory)., type: str}
  cert_files: {description: Path of each CA's certificate, by name., type: dict, required: true}
  key_files: {description: Path of each CA's private key, by name., type: dict, required: true}
  plan:
    description:
      - Per host, what the CA host signs for it, from the controller's inventory - a list of
        C(name), C(ca) (the CA that signs it) and C(renew) (sign again even if it fits). A
        host's own answer never chooses the CA or the renewal.
    type: dict
    required: true
  requests:
    description: >-
      Per host, its requests as netlab_pki_keys returns them (C(name), C(ca), C(renew),
      C(csr), C(current)).
    type: dict
    required: true
  valid_days: {description: Lifetime of a certificate signed now., type: int, default: 365}
  renew_before_days: {description: Sign again a certificate that ends within this many days., type: int, default: 90}
  ca_valid_days: {description: Lifetime of a CA certificate made now., type: int, default: 3650}
  key_type: {description: Type of a CA key made now., type: str, choices: [RSA, Ed25519, Ed448], default: RSA}
  key_size: {description: Size of an RSA CA key made now., type: int, default: 2048}
author: k8s-netlab
"""

EXAMPLES = r"""
- name: Sign what needs signing
  netlab_pki_sign:
    cas:
      - {name: kubernetes, cn: netlab-kubernetes-ca}
    cert_files: {kubernetes: /etc/kubernetes/pki/ca.crt}
    key_files: {kubernetes: /etc/kubernetes/pki/ca.key}
    requests: {node2: "{{ hostvars.node2.pki_requests.requests }}"}
  delegate_to: node1
  run_once: true
"""

RETURN = r"""
certificates:
  description: Per host, per certificate name, the certificate it is to have (PEM; the current one when kept).
  returned: always
  type: dict
  sample: {"node2": {"kube-proxy": "-----BEGIN CERTIFICATE-----..."}}
signed:
  description: Per host, the names of the certificates signed now, each with why.
  returned: always
  type: dict
  sample: {"node2": {"kube-proxy": "named in pki_renew"}}
ca_certificates:
  description: Per CA name, its certificate (PEM).
  returned: always
  type: dict
"""

import datetime

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.netlab_pki import HAS_CRYPTOGRAPHY, KEY_OPTIONS, module_files, read

if HAS_CRYPTOGRAPHY:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from cryptography.x509.oid import ExtensionOID, NameOID

UTC = datetime.UTC
# Extensions the signer adds itself: not part of what a request asks for.
SIGNER_ADDED = ({ExtensionOID.SUBJECT_KEY_IDENTIFIER, ExtensionOID.AUTHORITY_KEY_IDENTIFIER}
                if HAS_CRYPTOGRAPHY else set())


def not_after(cert: x509.Certificate) -> datetime.datetime:
    """The end of validity, aware UTC (cryptography 38 has only the naive attribute)."""
    value = getattr(cert, "not_valid_after_utc", None)
    return value if value is not None else cert.not_valid_after.replace(tzinfo=UTC)


def spki(public_key) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _subject(name: x509.Name) -> frozenset:
    return frozenset((attr.oid.dotted_string, attr.value) for attr in name)


def _extensions(extensions: x509.Extensions) -> dict:
    """OID -> (critical, value), order-free for SANs and extended key usages."""
    summary = {}
    for ext in extensions:
        if ext.oid in SIGNER_ADDED:
            continue
        value = ext.value
        if isinstance(value, (x509.SubjectAlternativeName, x509.ExtendedKeyUsage)):
            value = frozenset(value)
        summary[ext.oid.dotted_string] = (ext.critical, value)
    return summary


def issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    """Whether `ca` issued `cert`: its subject is the issuer, and its key verifies the signature."""
    if cert.issuer != ca.subject:
        return False
    key = ca.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), cert.signature_hash_algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
        else:
            key.verify(cert.signature, cert.tbs_certificate_bytes)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def mismatches(cert: x509.Certificate, csr: x509.CertificateSigningRequest, ca: x509.Certificate) -> list[str]:
    """What differs between a certificate and the request and CA it should be of (empty: it fits)."""
    found = []
    if spki(cert.public_key()) != spki(csr.public_key()):
        found.append("another key")
    if _subject(cert.subject) != _subject(csr.subject):
        found.append("another subject")
    want, have = _extensions(csr.extensions), _extensions(cert.extensions)
    for oid in sorted(set(want) | set(have)):
        if want.get(oid) != have.get(oid):
            found.append(f"another {x509.ObjectIdentifier(oid)._name}")
    if not issued_by(cert, ca):
        found.append("another CA")
    return found


def sign_reason(current: str | None, csr_pem: str, ca: x509.Certificate, renew: bool,
                renew_before_days: int, now: datetime.datetime | None = None) -> str | None:
    """Why the certificate must be signed (again), or None to keep `current`."""
    if renew:
        return "named in pki_renew"
    if not current:
        return "no certificate yet"
    try:
        cert = x509.load_pem_x509_certificate(current.encode())
    except ValueError:
        return "the current certificate cannot be read"
    now = now or datetime.datetime.now(UTC)
    if not_after(cert) < now + datetime.timedelta(days=renew_before_days):
        return f"it ends within {renew_before_days} days"
    found = mismatches(cert, x509.load_pem_x509_csr(csr_pem.encode()), ca)
    return ", ".join(found) if found else None


def _hash_for(key):
    return hashes.SHA256() if isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)) else None


def sign(csr_pem: str, ca: x509.Certificate, ca_key, valid_days: int,
         now: datetime.datetime | None = None) -> str:
    """A certificate for the request, as x509_certificate's ownca provider made it: the request's
    subject, key and extensions, a random serial, valid from now, subject and authority key ids."""
    csr = x509.load_pem_x509_csr(csr_pem.encode())
    if not csr.is_signature_valid:
        raise ValueError("the signing request's signature does not verify")
    now = now or datetime.datetime.now(UTC)
    builder = (x509.CertificateBuilder().subject_name(csr.subject).issuer_name(ca.subject)
               .public_key(csr.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=valid_days)))
    for ext in csr.extensions:
        builder = builder.add_extension(ext.value, ext.critical)
    builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(csr.public_key()), critical=False)
    try:
        aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
            ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value)
    except x509.ExtensionNotFound:
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.public_key())
    builder = builder.add_extension(aki, critical=False)
    return builder.sign(ca_key, _hash_for(ca_key)).public_bytes(serialization.Encoding.PEM).decode()


def self_signed_ca(key, cn: str, valid_days: int, now: datetime.datetime | None = None) -> x509.Certificate:
    """A CA certificate as the role's CA request and x509_certificate's selfsigned provider made it."""
    now = now or datetime.datetime.now(UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now)
               .not_valid_after(now + datetime.timedelta(days=valid_days))
               .add_extension(x509.KeyUsage(
                   digital_signature=True, content_commitment=False, key_encipherment=False,
                   data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                   encipher_only=False, decipher_only=False), critical=True)
               .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
    return builder.sign(key, _hash_for(key))


def ca_fits(cert: x509.Certificate, key, cn: str) -> bool:
    """A CA certificate is kept while it is of its key, with its CN, and a CA."""
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    cns = [attr.value for attr in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    return is_ca and cns == [cn] and spki(cert.public_key()) == spki(key.public_key())


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "cas": {"type": "list", "elements": "dict", "required": True, "options": {
                "name": {"type": "str", "required": True},
                "cn": {"type": "str", "required": True},
                "path": {"type": "str"},
            }},
            "cert_files": {"type": "dict", "required": True},
            "key_files": {"type": "dict", "required": True, "no_log": False},
            "requests": {"type": "dict", "required": True},
            "plan": {"type": "dict", "required": True},
            "valid_days": {"type": "int", "default": 365},
            "renew_before_days": {"type": "int", "default": 90},
            "ca_valid_days": {"type": "int", "default": 3650},
            **KEY_OPTIONS,
        },
        supports_check_mode=True,
    )
    params = module.params
    files = module_files(module)
    cas: dict[str, tuple] = {}
    for ca in params["cas"]:
        if ca["name"] not in params["cert_files"] or ca["name"] not in params["key_files"]:
            module.fail_json(msg=f"CA {ca['name']}: no path in cert_files or key_files")
        ca_cert_file = params["cert_files"][ca["name"]]
        key = files.key(params["key_files"][ca["name"]], params["key_type"], params["key_size"])
        data = read(ca_cert_file)
        try:
            cert = x509.load_pem_x509_certificate(data) if data else None
        except ValueError:
            cert = None
        if cert is None or not ca_fits(cert, key, ca["cn"]):
            cert = self_signed_ca(key, ca["cn"], params["ca_valid_days"])
        files.content(ca_cert_file, cert.public_bytes(serialization.Encoding.PEM), 0o644)
        cas[ca["name"]] = (cert, key)

    certificates: dict[str, dict[str, str]] = {}
    signed: dict[str, dict[str, str]] = {}
    # Which CA signs what, and what is renewed, come from the plan (the controller's
    # inventory); a host only sends its requests and current certificates.
    for host, planned in params["plan"].items():
        certificates[host], signed[host] = {}, {}
        sent = {r["name"]: r for r in params["requests"].get(host) or []}
        for entry in planned:
            name = entry["name"]
            request = sent.get(name)
            if request is None:
                module.fail_json(msg=f"{host}:{name}: the host sent no signing request for it")
            if entry.get("ca") not in cas:
                module.fail_json(msg=f"{host}:{name}: no CA named {entry.get('ca')!r} (one of {sorted(cas)})")
            ca_cert, ca_key = cas[entry["ca"]]
            try:
                reason = sign_reason(request.get("current"), request["csr"], ca_cert, bool(entry.get("renew")),
                                     params["renew_before_days"])
                if reason is None:
                    certificates[host][name] = request["current"]
                else:
                    certificates[host][name] = sign(request["csr"], ca_cert, ca_key, params["valid_days"])
                    signed[host][name] = reason
            except ValueError as exc:
                module.fail_json(msg=f"{host}:{name}: {exc}")
    ca_certificates = {name: cert.public_bytes(serialization.Encoding.PEM).decode()
                       for name, (cert, _key) in cas.items()}
    module.exit_json(changed=bool(files.written) or any(signed.values()), certificates=certificates, signed=signed,
                     ca_certificates=ca_certificates, written=files.written)


if __name__ == "__main__":
    main()
