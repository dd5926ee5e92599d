"""What `pushapi serve` runs: uvicorn, on a port checked first, with an HTTP protocol that closes
connections whose request headers do not arrive in time.

uvicorn waits for a request's headers as long as the client likes: a few hundred connections
that never finish their headers would hold the server. `HeaderTimeoutProtocol` closes a
connection when a request's headers have not all arrived PUSHAPI_HEADER_TIMEOUT_SECONDS after
its first byte (or after the connection opened). The body has its own limit, applied where it is
read (routes/push.py). A proxy in front should have its own limits too (docs/operations.md).
"""

import asyncio
import errno
import socket
from functools import cache
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from pushapi.config import Settings

PROTOCOL = "pushapi.serving:HeaderTimeoutProtocol"  # as uvicorn imports it in each worker
# Sent to a client whose headers took too long, before the connection is closed.
_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
    b"content-length: 82\r\n\r\n"
    b'{"error":"request_timeout","message":"the request headers did not arrive in time"}'
)


@cache
def header_timeout() -> float:
    """PUSHAPI_HEADER_TIMEOUT_SECONDS, read once per process (each worker reads its own)."""
    return Settings().header_timeout_seconds


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol (the C parser; h11 took a sixth more of the server's CPU time
    per small push, docs/benchmark.md "Measured choices"), closing a connection whose request
    headers are late."""

    def connection_made(self, transport: Any) -> None:  # type: ignore[override]
        self._header_timer: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._arm()

    def _arm(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(header_timeout(), self._headers_late)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.write(_TIMEOUT_RESPONSE)
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        # A kept-alive connection that sends nothing is closed by uvicorn's keep-alive timeout;
        # the first bytes of its next request start the header timer.
        waiting = self.cycle is None or self.cycle.response_complete
        if waiting:
            self._arm()
        before = self.cycle
        super().data_received(data)
        if self.cycle is not before:
            self._disarm()  # the headers are complete: the request has begun

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def port_problem(host: str, port: int) -> str | None:
    """Why `host:port` cannot be listened on (in use, not an address of this machine), or None."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return f"port {port} of {host} is in use (is another server running?)"
            return f"cannot listen on {host}:{port}: {error.strerror or error}"
    return None
