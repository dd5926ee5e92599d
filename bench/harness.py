"""What a benchmark run stands on: fresh databases, a real `pushapi serve` process, its memory
and CPU as /proc shows them, and a description of the machine."""

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

# The one launcher of real server processes, shared with the test suite.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from support import citus as citus_databases
from support.server import SERVE, ServerDidNotStart, ServerProcess, launch_server

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    """A run that cannot go on: printed as one line, exit status 1."""


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on."""
    model = "unknown"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "python": sys.version.split()[0],
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


@dataclass
class Databases:
    """The server's database and the floor's, both brand new for one run."""

    server_url: str
    floor_target: str  # a SQLite path, or a PostgreSQL URL


@contextmanager
def fresh_databases(
    engine: str, workdir: Path, postgres_url: str, citus: bool = False
) -> Iterator[Databases]:
    """A temp SQLite file each, or PostgreSQL databases created here and dropped afterwards.
    With `citus` (`postgres_url` a Citus coordinator with its workers registered), the server's
    database is made on every node and distributed after migrating, as the test suite's Citus
    mode does (tests/support/citus.py); the floor's stays a plain database of the coordinator."""
    if engine == "sqlite":
        run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=workdir))
        try:
            yield Databases(f"sqlite:///{run_dir / 'pushapi.db'}", str(run_dir / "floor.db"))
        finally:
            shutil.rmtree(run_dir, ignore_errors=True)
        return
    suffix = secrets.token_hex(4)
    names = (f"pushapi_bench_{suffix}", f"pushapi_floor_{suffix}")
    try:
        admin = psycopg.connect(postgres_url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else "no answer"
        raise BenchError(f"PostgreSQL not reachable at {postgres_url}: {first_line}") from None
    with admin:
        for name in names[1:] if citus else names:
            admin.execute(f'CREATE DATABASE "{name}"')
    base = make_url(postgres_url)
    urls = [base.set(database=name).render_as_string(hide_password=False) for name in names]
    try:
        if citus:
            try:
                urls[0] = citus_databases.create_database(
                    postgres_url, names[0], single_shard=False
                )
            except (RuntimeError, psycopg.Error) as error:
                raise BenchError(f"no Citus database at {postgres_url}: {error}") from None
            citus_databases.migrate_and_distribute(urls[0])
        yield Databases(urls[0], urls[1])
    finally:
        if citus:
            citus_databases.drop_database(postgres_url, names[0])
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            for name in names:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def create_tenant(database_url: str, code: str = "bench") -> str:
    """Create a tenant with the CLI, as an operator would; return its API key."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pushapi",
            "tenants",
            "create",
            code,
            "--platform",
            "community",
            "--json",
            "--database-url",
            database_url,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"pushapi tenants create failed: {done.stderr.strip()}")
    return str(json.loads(done.stdout)["api_key"])


class Server:
    """A server process on a free port of 127.0.0.1, its output in a log file, measured through
    /proc."""

    def __init__(self, process: ServerProcess) -> None:
        self.process = process
        self.base_url = process.base_url
        self.log_path = process.log_path
        self.pid = process.pid

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def reset_peak_memory(self) -> bool:
        """Start a new peak-RSS window (Linux clear_refs 5); False where that is not allowed."""
        try:
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")
        except OSError:
            return False
        return True

    def memory_mib(self) -> dict[str, float]:
        """VmHWM (peak resident set since the window began) and VmRSS, in MiB."""
        found = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmHWM", "VmRSS"):
                found[name] = round(int(value.split()[0]) / 1024, 1)
        return {"peak_rss_mib": found["VmHWM"], "rss_mib": found["VmRSS"]}

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


SERVE_COMMAND = SERVE  # `pushapi serve` with the interpreter running the benchmark


@contextmanager
def running_server(
    command: Sequence[str],
    database_url: str,
    workdir: Path,
    env: dict[str, str] | None = None,
) -> Iterator[Server]:
    """A server of `command` (e.g. SERVE_COMMAND) on the database, with `env` added to the
    environment, stopped when done."""
    log_path = workdir / f"server-{secrets.token_hex(3)}.log"
    try:
        process = launch_server(
            ["--database-url", database_url],
            log_path,
            command=command,
            timeout=90,
            env={**os.environ, **(env or {})},
        )
    except ServerDidNotStart as error:
        raise BenchError(str(error)) from None
    try:
        yield Server(process)
    finally:
        process.stop(timeout=30)
