"""`pushapi serve` under a sampling profiler (pyinstrument; install it for profiling only).

    python bench/profile_server.py OUT_DIR serve --port 8080 --database-url ...

The event-loop thread (HTTP, middleware, response) and each push's worker thread (parse, validate,
apply, commit, push log) are sampled on the wall clock, so waits on the database count. (A
per-thread CPU clock is not offered: reading it costs a system call per Python call, which
inflates call-heavy code several times over.) SIGUSR1 opens a profiling window; SIGUSR2 closes it
and writes OUT_DIR/main.pyisession and OUT_DIR/worker.pyisession, then OUT_DIR/done.
"""

import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import anyio.to_thread
from pyinstrument import Profiler
from pyinstrument.session import Session

from pushapi.cli import main as pushapi_main

T = TypeVar("T")
INTERVAL = 0.0005  # seconds between samples


class ProfileWindow:
    """Profilers started and stopped together, their sessions kept until the window closes."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.active = False
        self.main: Profiler | None = None
        self.worker_sessions: list[Session] = []
        self.lock = threading.Lock()

    def new_profiler(self) -> Profiler:
        """A profiler for the calling thread (pyinstrument keeps one sampler per thread)."""
        return Profiler(interval=INTERVAL, async_mode="disabled")

    def open(self, *_: object) -> None:
        (self.out_dir / "done").unlink(missing_ok=True)
        self.worker_sessions = []
        self.main = self.new_profiler()
        self.main.start()
        self.active = True

    def close(self, *_: object) -> None:
        self.active = False
        assert self.main is not None
        main_session = self.main.stop()
        main_session.save(str(self.out_dir / "main.pyisession"))
        with self.lock:
            sessions = list(self.worker_sessions)
        if sessions:
            combined = sessions[0]
            for session in sessions[1:]:
                combined = Session.combine(combined, session)
            combined.save(str(self.out_dir / "worker.pyisession"))
        (self.out_dir / "done").write_text(str(len(sessions)))

    def profiled(self, func: Callable[..., T]) -> Callable[..., T]:
        """`func` run under its own profiler in whatever thread calls it."""

        def call(*args: Any, **kwargs: Any) -> T:
            if not self.active:
                return func(*args, **kwargs)
            profiler = self.new_profiler()
            profiler.start()
            try:
                return func(*args, **kwargs)
            finally:
                session = profiler.stop()
                with self.lock:
                    self.worker_sessions.append(session)

        return call


def main() -> None:
    out_dir = Path(sys.argv[1])
    out_dir.mkdir(parents=True, exist_ok=True)
    window = ProfileWindow(out_dir)
    original = anyio.to_thread.run_sync

    async def run_sync(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await original(window.profiled(func), *args, **kwargs)

    # The push handler and sync dependencies (the API key check) hand their blocking work to
    # worker threads through anyio: profile it there.
    anyio.to_thread.run_sync = run_sync  # type: ignore[assignment]

    def on_signal(handler: Callable[[], None]) -> Callable[[int, FrameType | None], None]:
        return lambda _signum, _frame: handler()

    signal.signal(signal.SIGUSR1, on_signal(window.open))
    signal.signal(signal.SIGUSR2, on_signal(window.close))
    sys.argv = ["pushapi", *sys.argv[2:]]
    pushapi_main()


if __name__ == "__main__":
    main()
