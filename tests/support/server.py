"""Real `pushapi serve` processes: started on a free port, ready once /healthz answers."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

SERVE = (sys.executable, "-m", "pushapi", "serve")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerDidNotStart(RuntimeError):
    """The server exited or did not answer /healthz in time; the message holds its log."""


@dataclass
class ServerProcess:
    """A `pushapi serve` process on 127.0.0.1, its output in a log file."""

    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
        """Stop it with `sig` (SIGKILL: at once) and wait; killed when it does not stop."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def launch_server(
    args: Sequence[str],
    log_path: Path,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    stderr_path: Path | None = None,
    timeout: float = 30,
    command: Sequence[str] = SERVE,
) -> ServerProcess:
    """Start `pushapi serve ARGS` (or `command ARGS`) on a free port and wait until /healthz
    answers 200.

    Its output goes to `log_path` (stderr to `stderr_path` when given, else there too); `env`
    replaces the environment (default: this process's).
    """
    port = free_port()
    with log_path.open("wb") as out:
        err = stderr_path.open("wb") if stderr_path is not None else None
        try:
            process = subprocess.Popen(
                [*command, "--port", str(port), *args],
                stdout=out,
                stderr=err if err is not None else subprocess.STDOUT,
                env=dict(os.environ if env is None else env),
                cwd=cwd,
            )
        finally:
            if err is not None:
                err.close()
    server = ServerProcess(process, f"http://127.0.0.1:{port}", log_path)
    wait_ready(server, timeout, stderr_path or log_path)
    return server


def wait_ready(server: ServerProcess, timeout: float, log_path: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise ServerDidNotStart(f"server exited early: {log_path.read_text()}")
        try:
            if httpx.get(f"{server.base_url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    server.stop()
    raise ServerDidNotStart(f"server did not answer in {timeout} s: {log_path.read_text()}")
