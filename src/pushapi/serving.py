"""What `pushapi serve` runs: uvicorn, on a port checked first, with an HTTP protocol that closes
connections whose request headers do not arrive in time, in worker processes that keep the memory
they free for their next pushes (`keep_freed_memory`).

uvicorn waits for a request's headers as long as the client likes: a few hundred connections
that never finish their headers would hold the server. `HeaderTimeoutProtocol` closes a
connection when a request's headers have not all arrived PUSHAPI_HEADER_TIMEOUT_SECONDS after
its first byte (or after the connection opened). The body has its own limit, applied where it is
read (routes/push.py). A proxy in front should have its own limits too (docs/operations.md).
"""

import asyncio
import ctypes
import errno
import os
import platform
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


# mallopt(3) parameters of glibc's malloc.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
# The largest mmap threshold glibc accepts on a 64-bit system (half its heap size): a block
# smaller than this comes from the heap and goes back to it.
MMAP_THRESHOLD_MAX = 32 * 1024 * 1024
# glibc gives threads that allocate at once heaps (arenas) of their own, up to 8 per core, and
# the trim threshold applies to each: the memory kept is bounded by this many times `keep_mib`.
# Pushes run Python code under one lock, so threads rarely allocate at the same moment.
ARENAS = 2


def keep_freed_memory(keep_mib: int) -> bool:
    """Have glibc's malloc keep up to `keep_mib` MiB of freed memory in each of its ARENAS heaps,
    for the next push to reuse (PUSHAPI_MALLOC_KEEP_MIB); whether it was set.

    By default glibc gives each block of 128 KiB or more (a push body, the chunks it arrives in,
    its records' documents) its own mapping, returned to the operating system when freed, and
    trims the heap's top back to it, so every push faults its memory in again, page by page. On
    a virtual machine such faults are slow: a re-push of 1,000 unchanged contacts (2.6 MB)
    spent 17-23 ms of system time just receiving its body, against under 1 ms with the memory
    kept (docs/benchmark.md, "Measured choices"). The memory kept stays counted in the
    process's resident size. Not glibc (musl, macOS), or `keep_mib` 0: nothing is changed.
    """
    if keep_mib <= 0 or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # pragma: no cover - glibc always has it
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    keep = min(keep_mib * 1024 * 1024, 2**31 - 1)
    # An operator's own limit on the heaps (MALLOC_ARENA_MAX, glibc.malloc.arena_max) stands.
    chosen = "MALLOC_ARENA_MAX" in os.environ or "arena_max" in os.environ.get("GLIBC_TUNABLES", "")
    return bool(
        (chosen or mallopt(M_ARENA_MAX, ARENAS))
        and mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX)
        and mallopt(M_TRIM_THRESHOLD, keep)
    )
