"""A passive capture on the loopback interface with tcpdump, the way a node agent (the
Sysdig agent) sees statsd datagrams off the wire, whether or not anything listens.

``with LoopbackCapture("udp port 8125 or icmp", tmp_path) as cap: ...`` runs
``tcpdump -i lo -U -w file <filter>`` until the block ends; ``cap.packets()`` then
parses the pcap file (IPv4 on Linux's loopback: an Ethernet-framed link) into
:class:`Packet` values. tcpdump needs root or CAP_NET_RAW: every machine this project runs
on (CI included) is root, so a capture that cannot start fails with a clear message.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from tests.helpers.processes import terminate

_LINKTYPE_ETHERNET = 1
_LINKTYPE_LINUX_SLL = 113


@dataclass(frozen=True)
class Packet:
    """One IPv4 packet: ``proto`` 17 (UDP) with ``dport`` and ``payload``, or 1 (ICMP)
    with ``icmp_type``/``icmp_code``."""

    proto: int
    src: str
    dst: str
    dport: int = 0
    payload: bytes = b""
    icmp_type: int = -1
    icmp_code: int = -1


def parse_pcap(data: bytes) -> list[Packet]:
    """The IPv4 UDP and ICMP packets of a classic pcap file (micro- or nanosecond)."""
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        raise ValueError(f"not a pcap file (magic {magic!r})")
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    link_header = {_LINKTYPE_ETHERNET: 14, _LINKTYPE_LINUX_SLL: 16}.get(linktype)
    if link_header is None:
        raise ValueError(f"unexpected link type {linktype}")
    out = []
    pos = 24
    while pos + 16 <= len(data):
        incl = struct.unpack(endian + "I", data[pos + 8:pos + 12])[0]
        frame = data[pos + 16:pos + 16 + incl]
        pos += 16 + incl
        if frame[link_header - 2:link_header] != b"\x08\x00":  # IPv4 only
            continue
        ip = frame[link_header:]
        ihl = (ip[0] & 0x0F) * 4
        proto = ip[9]
        src, dst = ".".join(map(str, ip[12:16])), ".".join(map(str, ip[16:20]))
        body = ip[ihl:]
        if proto == 17:
            dport, length = struct.unpack("!HH", body[2:6])
            out.append(Packet(17, src, dst, dport=dport, payload=body[8:length]))
        elif proto == 1:
            out.append(Packet(1, src, dst, icmp_type=body[0], icmp_code=body[1]))
    return out


class LoopbackCapture:
    """tcpdump on ``lo`` with a capture filter, for the duration of a ``with`` block."""

    def __init__(self, bpf_filter: str, directory: Path) -> None:
        self.filter = bpf_filter
        self.file = directory / "lo.pcap"
        self.proc: subprocess.Popen | None = None
        self._stderr: list[str] = []

    def __enter__(self) -> "LoopbackCapture":
        tcpdump = shutil.which("tcpdump") or (
            "/usr/sbin/tcpdump" if Path("/usr/sbin/tcpdump").exists() else None)
        assert tcpdump, "tcpdump (Debian package) is installed by scripts/sysdeps.sh (make test)"
        self.proc = subprocess.Popen(
            [tcpdump, "-i", "lo", "-n", "-U", "-s", "0", "-w", str(self.file), self.filter],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        listening = threading.Event()

        def read() -> None:
            assert self.proc is not None and self.proc.stderr is not None
            for line in self.proc.stderr:
                self._stderr.append(line)
                if line.startswith("tcpdump: listening on"):
                    listening.set()
            listening.set()  # tcpdump ended

        threading.Thread(target=read, daemon=True).start()
        listening.wait(30)
        if self.proc.poll() is not None or not self._stderr:
            self.proc.kill()
            raise AssertionError(
                "tcpdump could not capture on lo; it needs root or CAP_NET_RAW (CI and this "
                "project's machines run as root):\n" + "".join(self._stderr))
        return self

    def __exit__(self, *exc) -> None:
        terminate(self.proc)

    def packets(self) -> list[Packet]:
        """What was captured (call after the block: tcpdump has written everything)."""
        return parse_pcap(self.file.read_bytes())
