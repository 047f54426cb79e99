"""Why a TLS handshake failed, in words a 502's ``l5d-err`` can carry (pure).

The client's certificate check (:mod:`l5d.tls.context`) reports OpenSSL's verify
error numbers and the certificate's names; this module turns them into one of a
few :class:`TlsFailure` kinds and a sentence, and matches a ``commonName`` against
a certificate's names (RFC 6125: DNS subjectAltNames, a ``*`` only as the whole
left-most label; IP subjectAltNames for an IP literal; the subject CN only when
the certificate has no DNS or IP subjectAltName, as Java's checker that Linkerd used).
"""

from __future__ import annotations

import enum
import ipaddress

__all__ = ["TlsFailure", "classify", "is_ip_literal", "name_matches"]


class TlsFailure(enum.Enum):
    """What went wrong; the value is the words ``l5d-err`` starts with."""

    WRONG_NAME = "wrong name"
    UNTRUSTED = "untrusted CA"
    EXPIRED = "expired certificate"
    NOT_YET_VALID = "certificate not yet valid"
    BAD_CERTIFICATE = "bad certificate"
    HANDSHAKE = "handshake failed"


# OpenSSL's X509_V_ERR_* numbers (x509_vfy.h), stable since OpenSSL 0.9
_EXPIRED = frozenset({10, 12})  # CERT_HAS_EXPIRED, CRL_HAS_EXPIRED
_NOT_YET_VALID = frozenset({9, 11})  # CERT_NOT_YET_VALID, CRL_NOT_YET_VALID
_UNTRUSTED = frozenset({
    2,   # UNABLE_TO_GET_ISSUER_CERT
    18,  # DEPTH_ZERO_SELF_SIGNED_CERT
    19,  # SELF_SIGNED_CERT_IN_CHAIN
    20,  # UNABLE_TO_GET_ISSUER_CERT_LOCALLY
    21,  # UNABLE_TO_VERIFY_LEAF_SIGNATURE
    27,  # CERT_UNTRUSTED
    28,  # CERT_REJECTED
})


def classify(errno: int) -> TlsFailure:
    """The kind of an OpenSSL certificate verify error number."""
    if errno in _EXPIRED:
        return TlsFailure.EXPIRED
    if errno in _NOT_YET_VALID:
        return TlsFailure.NOT_YET_VALID
    if errno in _UNTRUSTED:
        return TlsFailure.UNTRUSTED
    return TlsFailure.BAD_CERTIFICATE


def _dns_match(pattern: str, name: str) -> bool:
    pattern, name = pattern.lower().rstrip("."), name.lower().rstrip(".")
    if pattern == name:
        return True
    if not pattern.startswith("*."):
        return False
    # "*.example.com" matches exactly one more label: "a.example.com", not "example.com"
    head, _, rest = name.partition(".")
    return bool(head) and rest == pattern[2:] and "*" not in rest


def is_ip_literal(name: str) -> bool:
    """Whether ``name`` is an IP address (no SNI is sent for one)."""
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def name_matches(name: str, dns_names: tuple[str, ...], ip_names: tuple[str, ...],
                 common_names: tuple[str, ...]) -> bool:
    """Whether a certificate with these names is one for ``name``.

    :param name: the expected name (``commonName``): a host name or an IP literal.
    :param dns_names: the certificate's DNS subjectAltNames.
    :param ip_names: its IP subjectAltNames (as text).
    :param common_names: its subject CNs, looked at only when it has neither.
    """
    if is_ip_literal(name):
        ip = ipaddress.ip_address(name)
        return any(ipaddress.ip_address(i) == ip for i in ip_names)
    if dns_names or ip_names:
        return any(_dns_match(p, name) for p in dns_names)
    return any(_dns_match(p, name) for p in common_names)
