"""Naming a failed certificate check and matching names (pure)."""

from __future__ import annotations

import pytest

from l5d.tls.verdict import TlsFailure, classify, name_matches


class ClassifyTests:
    """OpenSSL verify error numbers -> the words of l5d-err."""

    @pytest.mark.parametrize("errno,kind", [
        (10, TlsFailure.EXPIRED), (9, TlsFailure.NOT_YET_VALID), (20, TlsFailure.UNTRUSTED),
        (19, TlsFailure.UNTRUSTED), (18, TlsFailure.UNTRUSTED), (21, TlsFailure.UNTRUSTED),
        (7, TlsFailure.BAD_CERTIFICATE),
    ])
    def test_classify(self, errno: int, kind: TlsFailure) -> None:
        """Each number in its family."""
        assert classify(errno) is kind


class NameTests:
    """RFC 6125 matching, with the CN only for certificates without subjectAltNames."""

    @pytest.mark.parametrize("name,dns,ips,cns,ok", [
        ("linkerd", ("linkerd",), (), (), True),
        ("LinkerD", ("linkerd",), (), (), True),
        ("hello.svc", ("*.svc",), (), (), True),
        ("a.hello.svc", ("*.svc",), (), (), False),
        ("svc", ("*.svc",), (), (), False),
        ("world", ("hello",), (), ("world",), False),  # SANs present: CN ignored
        ("world", (), (), ("world",), True),  # no SAN: CN (Linkerd's example certificates)
        ("127.0.0.1", (), ("127.0.0.1",), (), True),
        ("127.0.0.1", ("127.0.0.1",), (), (), False),  # an IP is matched by IP SANs only
        ("::1", (), ("0:0::1",), (), True),
    ])
    def test_name_matches(self, name, dns, ips, cns, ok) -> None:
        """The table's verdicts."""
        assert name_matches(name, dns, ips, cns) is ok, (name, dns, ips, cns)
