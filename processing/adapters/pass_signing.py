"""Apple Wallet pass signing with ``cryptography`` (decision 0029, spec §1.3): the checks of a
program's pass type certificate, its private key and Apple's WWDR intermediate, and the detached
PKCS #7 signature of a manifest with them.

The signature is DER, detached, binary (no MIME canonicalisation: the manifest is signed as its
bytes are), SHA-256, with the WWDR intermediate among its certificates and the signed attributes
``cryptography`` writes (content type, signing time, message digest): Apple refuses a pass
without the signing time.
"""

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from processing.core.invariants import InvariantViolation
from processing.service.ports import CertificateInfo, PassCredentials, Unsigned


def _certificate(pem: str, field: str) -> x509.Certificate | Unsigned:
    try:
        certificates = x509.load_pem_x509_certificates(pem.encode())
    except ValueError:
        return Unsigned(field=field, reason="is not a PEM certificate")
    if len(certificates) != 1:
        return Unsigned(field=field, reason="holds one certificate")
    return certificates[0]


def _private_key(pem: str) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | Unsigned:
    field = "private_key_pem"
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        return Unsigned(field=field, reason="is not an unencrypted PEM private key")
    except Exception:  # an unsupported algorithm raises its own class
        return Unsigned(field=field, reason="is not a private key this server can use")
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        return Unsigned(field=field, reason="is an RSA or EC key")
    return key


def _public(key: object) -> bytes:
    return key.public_bytes(  # type: ignore[attr-defined, no-any-return]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _attribute(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    found = name.get_attributes_for_oid(oid)
    return str(found[0].value) if found else None


class PassSigner:
    """The ``PassSigning`` port over ``cryptography``."""

    def check(
        self, credentials: PassCredentials, pass_type_identifier: str, team_identifier: str
    ) -> CertificateInfo | Unsigned:
        """What the certificate says, or which field is wrong: a PEM that is not one, a key
        that is not the certificate's, a certificate the intermediate did not issue, or one
        whose UID or OU (Apple writes the pass type and team there) names another."""
        certificate = _certificate(credentials.certificate_pem, "certificate_pem")
        if isinstance(certificate, Unsigned):
            return certificate
        wwdr = _certificate(credentials.wwdr_pem, "wwdr_pem")
        if isinstance(wwdr, Unsigned):
            return wwdr
        key = _private_key(credentials.private_key_pem)
        if isinstance(key, Unsigned):
            return key
        if _public(key.public_key()) != _public(certificate.public_key()):
            return Unsigned(field="private_key_pem", reason="is not the certificate's key")
        try:
            certificate.verify_directly_issued_by(wwdr)
        except (ValueError, TypeError, InvalidSignature):
            return Unsigned(field="wwdr_pem", reason="did not issue the certificate")
        subject = certificate.subject
        uid = _attribute(subject, NameOID.USER_ID)
        if uid is not None and uid != pass_type_identifier:
            return Unsigned(
                field="pass_type_identifier", reason=f"is not the certificate's ({uid})"
            )
        unit = _attribute(subject, NameOID.ORGANIZATIONAL_UNIT_NAME)
        if unit is not None and unit != team_identifier:
            return Unsigned(field="team_identifier", reason=f"is not the certificate's ({unit})")
        return CertificateInfo(
            subject=subject.rfc4514_string()[:500],
            not_after=certificate.not_valid_after_utc,
        )

    def sign(self, manifest: bytes, credentials: PassCredentials) -> bytes:
        certificate = x509.load_pem_x509_certificate(credentials.certificate_pem.encode())
        wwdr = x509.load_pem_x509_certificate(credentials.wwdr_pem.encode())
        key = serialization.load_pem_private_key(credentials.private_key_pem.encode(), None)
        if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise InvariantViolation("the key was checked when it was set")
        return (
            pkcs7.PKCS7SignatureBuilder()
            .set_data(manifest)
            .add_signer(certificate, key, hashes.SHA256())
            .add_certificate(wwdr)
            .sign(
                serialization.Encoding.DER,
                [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary],
            )
        )
