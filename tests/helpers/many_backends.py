"""Many tiny HTTP/1.1 backends on 127.0.0.1 in one thread (asyncio): ``ManyBackends(500)``
listens on 500 ports and answers every request ``200 ok`` (keep-alive). For tests that
need hundreds of distinct destinations (500 l5d clients)."""

from __future__ import annotations

import asyncio
import threading

_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


class ManyBackends:
    def __init__(self, n: int) -> None:
        self.ports: list[int] = []
        self.requests = 0
        self._loop = asyncio.new_event_loop()
        self._servers: list[asyncio.AbstractServer] = []
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(n, ready), daemon=True)
        self._thread.start()
        if not ready.wait(30):
            raise RuntimeError("backends did not start")

    def _run(self, n: int, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)

        async def start() -> None:
            for _ in range(n):
                server = await asyncio.start_server(self._serve, "127.0.0.1", 0, backlog=16)
                self._servers.append(server)
                self.ports.append(server.sockets[0].getsockname()[1])

        self._loop.run_until_complete(start())
        ready.set()
        self._loop.run_forever()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                if length:
                    await reader.readexactly(length)
                self.requests += 1
                writer.write(_OK)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    def close(self) -> None:
        async def stop() -> None:
            for server in self._servers:
                server.close()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def __enter__(self) -> "ManyBackends":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
