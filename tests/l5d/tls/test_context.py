"""Contexts re-read when their files change; a change that does not load is not used."""

from __future__ import annotations

from pathlib import Path

import trustme

from l5d.tls.config import ServerTlsConfig
from l5d.tls.context import TlsContexts


def write(root: Path, leaf: trustme.LeafCert) -> None:
    leaf.cert_chain_pems[0].write_to_path(str(root / "tls.crt"))
    leaf.private_key_pem.write_to_path(str(root / "tls.key"))


class WatchedTests:
    """The files are looked at no more often than the interval, on a new connection."""

    def test_reload_on_change_only_after_the_interval(self, tmp_path: Path) -> None:
        """A changed certificate is used from the first check after the interval."""
        ca = trustme.CA()
        write(tmp_path, ca.issue_cert("a.test"))
        t = [0.0]
        tls = TlsContexts(lambda: t[0], check_interval_s=1.0).server(
            ServerTlsConfig(str(tmp_path / "tls.crt"), str(tmp_path / "tls.key")), "test")
        first = tls.watched.current()
        write(tmp_path, ca.issue_cert("b.test"))
        t[0] = 0.999
        assert tls.watched.current() is first  # just before the interval: not looked at
        t[0] = 1.0
        assert tls.watched.current() is not first and tls.watched.reloads == 1
        t[0] = 2.5
        second = tls.watched.current()
        assert tls.watched.reloads == 1 and second is tls.watched.context  # unchanged files

    def test_files_that_do_not_load_keep_the_old_context(self, tmp_path: Path) -> None:
        """A certificate whose key is not there yet (half a rotation) is not used; once the
        key matches, it is."""
        ca = trustme.CA()
        write(tmp_path, ca.issue_cert("a.test"))
        t = [0.0]
        tls = TlsContexts(lambda: t[0], check_interval_s=0.0).server(
            ServerTlsConfig(str(tmp_path / "tls.crt"), str(tmp_path / "tls.key")), "test")
        first = tls.watched.current()
        new = ca.issue_cert("b.test")
        new.cert_chain_pems[0].write_to_path(str(tmp_path / "tls.crt"))  # key not yet
        assert tls.watched.current() is first and tls.watched.reloads == 0
        new.private_key_pem.write_to_path(str(tmp_path / "tls.key"))
        assert tls.watched.current() is not first and tls.watched.reloads == 1
