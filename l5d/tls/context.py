"""TLS contexts for servers and clients, re-read when their files change (Twisted shell).

Contexts are made with :class:`twisted.internet.ssl.CertificateOptions` (pyOpenSSL
underneath: Twisted's cipher and protocol defaults, session ids, ECDH curves) from the
files a :mod:`l5d.tls.config` value names. :class:`Watched` keeps one and, at most every
``check_interval_s``, when a new connection asks for it, compares the files' ``stat``
(device, inode, mtime, size, symlinks followed) with what it last loaded. A change
(Kubernetes rotates a Secret by swapping the ``..data`` symlink of the mounted
directory, which changes every file's inode at once) makes a new context for the
connections that follow; connections already open keep theirs and are never dropped.
A change that does not load (a key that does not match its certificate, a file half
written) is logged and the previous context stays until the files load again.

:class:`ServerTls` and :class:`ClientTls` are Twisted's connection creators
(``IOpenSSLServerConnectionCreator``, ``IOpenSSLClientConnectionCreator``) for
:class:`twisted.protocols.tls.TLSMemoryBIOFactory`. A client checks the server's
certificate itself, per connection, so that a failure says which check failed
(:mod:`l5d.tls.verdict`): the chain against ``trustCerts`` (or the system's CAs), the
dates, and the name against ``commonName``.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Callable

from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from cryptography.x509.oid import NameOID
from OpenSSL import SSL, crypto
from twisted.internet import ssl
from twisted.internet.interfaces import (
    IOpenSSLClientConnectionCreator, IOpenSSLServerConnectionCreator,
)
from zope.interface import implementer

from l5d.tls.config import ClientTlsConfig, ServerTlsConfig
from l5d.tls.verdict import TlsFailure, classify, is_ip_literal, name_matches

__all__ = ["ClientTls", "Handshake", "ServerTls", "TlsContexts", "Watched"]

log = logging.getLogger("l5d.tls")

# TlsContexts lives in l5d.tls.contexts (no pyOpenSSL import until a context is made)
from l5d.tls.contexts import DEFAULT_CHECK_INTERVAL_S, TlsContexts  # noqa: E402,F401

_VERSIONS = {"TLSv1": ssl.TLSVersion.TLSv1_0, "TLSv1.1": ssl.TLSVersion.TLSv1_1,
             "TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}
_ORDER = ("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")


def _read(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


def _certs(path: str) -> list[x509.Certificate]:
    """Every certificate of a PEM file (a bundle or a chain)."""
    return x509.load_pem_x509_certificates(_read(path))


def _x509(certs: list[x509.Certificate]) -> list[crypto.X509]:
    return [crypto.X509.from_cryptography(c) for c in certs]


def _key(path: str) -> Any:
    return load_pem_private_key(_read(path), None)


def _stamp(paths: tuple[str, ...]) -> tuple[tuple[int, int, int, int], ...]:
    out = []
    for p in paths:
        st = os.stat(p)
        out.append((st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size))
    return tuple(out)


def _versions(enabled: tuple[str, ...] | None) -> dict[str, Any]:
    """CertificateOptions' version bounds for ``enabledProtocols`` (default: TLS 1.2+)."""
    if enabled is None:
        return {"raiseMinimumTo": ssl.TLSVersion.TLSv1_2}
    ordered = sorted(enabled, key=_ORDER.index)
    return {"insecurelyLowerMinimumTo": _VERSIONS[ordered[0]],
            "lowerMaximumSecurityTo": _VERSIONS[ordered[-1]]}


def server_options(cfg: ServerTlsConfig) -> ssl.CertificateOptions:
    """Load a server ``tls``'s files (``OSError`` / ``ValueError`` / ``SSL.Error`` if bad)."""
    extra: dict[str, Any] = _versions(cfg.enabled_protocols)
    if cfg.ciphers is not None:
        extra["acceptableCiphers"] = ssl.AcceptableCiphers.fromOpenSSLCipherString(
            ":".join(cfg.ciphers))
    if cfg.ca_cert_path is not None:
        cas = _certs(cfg.ca_cert_path)
        if cfg.require_client_auth:  # a trustRoot always requires a certificate
            extra.update(trustRoot=ssl.trustRootFromCertificates(
                [ssl.Certificate(c) for c in _x509(cas)]))
        else:  # checked when the client shows one
            extra.update(verify=True, requireCertificate=False, caCerts=_x509(cas))
    chain = _certs(cfg.cert_path)
    if not chain:
        raise ValueError(f"{cfg.cert_path}: no certificate in it")
    if cfg.intermediate_certs_path is not None:
        chain += _certs(cfg.intermediate_certs_path)
    return ssl.CertificateOptions(privateKey=_key(cfg.key_path), certificate=chain[0],
                                  extraCertChain=chain[1:], **extra)


def client_options(cfg: ClientTlsConfig) -> ssl.CertificateOptions:
    """Load a client ``tls``'s files (its ``commonName`` plays no part here)."""
    extra: dict[str, Any] = _versions(cfg.enabled_protocols)
    if not cfg.disable_validation:
        cas = [c for p in cfg.trust_certs for c in _certs(p)]
        if cfg.trust_certs_bundle is not None:
            cas += _certs(cfg.trust_certs_bundle)
        root = (ssl.trustRootFromCertificates([ssl.Certificate(c) for c in _x509(cas)])
                if cas else ssl.platformTrust())
        extra.update(trustRoot=root)
    auth = cfg.client_auth
    if auth is not None:
        chain = _certs(auth.cert_path)
        if auth.intermediate_certs_path is not None:
            chain += _certs(auth.intermediate_certs_path)
        extra.update(privateKey=_key(auth.key_path), certificate=chain[0],
                     extraCertChain=chain[1:])
    return ssl.CertificateOptions(**extra)


class Watched:
    """A context made from files, made again when they change. Reactor-thread only.

    :param files: the files to watch.
    :param make: makes the context from them (raises when they do not load).
    :param now: monotonic seconds.
    :param check_interval_s: look at the files at most this often.
    :raises OSError, ValueError, SSL.Error: the files do not load now (at start).
    """

    def __init__(self, what: str, files: tuple[str, ...], make: Callable[[], SSL.Context],
                 now: Callable[[], float], check_interval_s: float) -> None:
        self.what = what
        self._files = files
        self._make = make
        self._now = now
        self._interval_s = check_interval_s
        self._stamp = _stamp(files)
        self.context = make()
        self._checked = now()
        #: how many times new files were loaded
        self.reloads = 0

    def current(self) -> SSL.Context:
        """The context for a new connection (looking at the files when it is time)."""
        t = self._now()
        if t - self._checked >= self._interval_s:
            self._checked = t
            self.check()
        return self.context

    def check(self) -> bool:
        """Load the files again if they changed; whether a new context is in use."""
        try:
            stamp = _stamp(self._files)
        except OSError as err:
            log.warning("tls %s: cannot look at the certificate files (%s); "
                        "keeping the loaded ones", self.what, err)
            return False
        if stamp == self._stamp:
            return False
        try:
            context = self._make()
        except (OSError, ValueError, SSL.Error) as err:
            log.warning("tls %s: the changed certificate files do not load (%s); "
                        "keeping the loaded ones", self.what, err)
            return False
        self._stamp = stamp
        self.context = context
        self.reloads += 1
        log.info("tls %s: certificate files changed; new connections use them", self.what)
        return True


@implementer(IOpenSSLServerConnectionCreator)
class ServerTls:
    """A server's TLS: a connection per accepted socket from the current context."""

    def __init__(self, cfg: ServerTlsConfig, what: str, now: Callable[[], float],
                 check_interval_s: float = DEFAULT_CHECK_INTERVAL_S) -> None:
        self.config = cfg
        self.watched = Watched(what, cfg.files, lambda: server_options(cfg).getContext(),
                               now, check_interval_s)

    def serverConnectionForTLS(self, tlsProtocol: Any) -> SSL.Connection:
        return SSL.Connection(self.watched.current(), None)


class Handshake:
    """One client handshake's check: the expected name and the first failure seen."""

    __slots__ = ("name", "failure", "detail", "_failures")

    def __init__(self, name: str | None, failures: dict[TlsFailure, int]) -> None:
        self.name = name
        self.failure: TlsFailure | None = None
        self.detail = ""
        self._failures = failures

    def failed(self, reason: str) -> str:
        """Count this handshake's failure by kind; the words for ``l5d-err``."""
        self._failures[self.failure or TlsFailure.HANDSHAKE] += 1
        return self.message(reason)

    def message(self, reason: str) -> str:
        """What the 502 says: the check that failed, else OpenSSL's reason."""
        if self.failure is not None:
            return f"TLS {self.failure.value}: {self.detail}"
        return f"TLS {TlsFailure.HANDSHAKE.value}: {reason}"


def _names(cert: x509.Certificate) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = tuple(san.get_values_for_type(x509.DNSName))
        ips = tuple(str(i) for i in san.get_values_for_type(x509.IPAddress))
    except x509.ExtensionNotFound:
        dns, ips = (), ()
    cns = tuple(str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME))
    return dns, ips, cns


def _verify(conn: SSL.Connection, cert: crypto.X509, errno: int, depth: int, ok: int) -> bool:
    check: Handshake = conn.get_app_data().tls_check  # app data: the TLS protocol (Twisted's)
    if not ok:
        if check.failure is None:
            kind = classify(errno)
            c = cert.to_cryptography()
            if kind is TlsFailure.EXPIRED:
                what = f"it expired {c.not_valid_after_utc:%Y-%m-%d %H:%M:%S} UTC"
            elif kind is TlsFailure.NOT_YET_VALID:
                what = f"it is valid from {c.not_valid_before_utc:%Y-%m-%d %H:%M:%S} UTC"
            elif kind is TlsFailure.UNTRUSTED:
                what = f"issuer {c.issuer.rfc4514_string()} is not trusted (trustCerts)"
            else:
                what = f"OpenSSL verify error {errno}"
            check.failure = kind
            check.detail = f"the certificate of {c.subject.rfc4514_string()}: {what}"
        return False
    if depth == 0 and check.name is not None:
        dns, ips, cns = _names(cert.to_cryptography())
        if not name_matches(check.name, dns, ips, cns):
            shown = ", ".join(dns + ips) or ", ".join(f"CN={n}" for n in cns) or "no name"
            check.failure = TlsFailure.WRONG_NAME
            check.detail = f"the certificate is for {shown}, not {check.name} (commonName)"
            return False
    return True


@implementer(IOpenSSLClientConnectionCreator)
class ClientTls:
    """A client's TLS toward one ``commonName``: a checked connection per connect."""

    def __init__(self, cfg: ClientTlsConfig, watched: Watched,
                 failures: dict[TlsFailure, int] | None = None) -> None:
        self.config = cfg
        self.watched = watched
        self.failures = failures if failures is not None else dict.fromkeys(TlsFailure, 0)

    def clientConnectionForTLS(self, tlsProtocol: Any) -> SSL.Connection:
        conn = SSL.Connection(self.watched.current(), None)
        name = self.config.common_name
        tlsProtocol.tls_check = Handshake(None if self.config.disable_validation else name,
                                          self.failures)
        if not self.config.disable_validation:
            conn.set_verify(SSL.VERIFY_PEER, _verify)
        if name is not None and not is_ip_literal(name):
            conn.set_tlsext_host_name(_sni(name))
        return conn


def _sni(name: str) -> bytes:
    """``name`` for SNI: IDNA for international names, as is for ASCII ones (IDNA refuses
    labels such as ``my_service`` that are common in clusters)."""
    try:
        return name.encode("ascii")
    except UnicodeEncodeError:
        return name.encode("idna")
