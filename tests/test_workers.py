"""`pushapi serve --workers N` (SPEC 2): N worker processes answer on one port at once, write
to one database without losing updates, count /metrics together, and stop together."""

import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from conftest import TestTenant
from sqlalchemy import Engine
from support.server import ServerProcess
from test_concurrency import check_last_committed_push_wins, plan_clients, send_concurrently

PROC = Path("/proc")
pytestmark = pytest.mark.skipif(not PROC.is_dir(), reason="finds worker processes in /proc")


def worker_pids(server: ServerProcess) -> list[int]:
    """The server's worker processes (uvicorn spawns them with multiprocessing)."""
    pids = []
    for stat in PROC.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError):
            continue  # the process ended while we looked
        if int(fields[1]) == server.process.pid and b"spawn_main" in cmdline:
            pids.append(int(stat.parent.name))
    return sorted(pids)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far."""
    fields = (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # clock ticks; USER_HZ is 100 on Linux


def start_two_workers(
    start_server: Callable[..., ServerProcess],
) -> tuple[ServerProcess, list[int]]:
    server = start_server("--workers", "2")
    deadline = time.monotonic() + 60
    while len(pids := worker_pids(server)) < 2:
        assert time.monotonic() < deadline, f"workers: {pids}"
        time.sleep(0.1)
    assert len(pids) == 2, pids
    for _ in range(20):  # both have started when the port keeps answering
        assert httpx.get(f"{server.base_url}/healthz", headers={"Connection": "close"}).is_success
    return server, pids


def is_running(pid: int) -> bool:
    try:
        state = (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
def test_two_workers_share_the_port_and_the_pushes_and_stop_together(
    start_server: Callable[..., ServerProcess],
    make_tenant: Callable[..., TestTenant],
    engine: Engine,
) -> None:
    """Overlapping pushes of 2 tenants x 3 clients x 5 through both workers: each worker
    answers some, and every record ends as the last committed push left it."""
    server, pids = start_two_workers(start_server)
    used_before = {pid: cpu_seconds(pid) for pid in pids}
    tenants = [make_tenant(), make_tenant()]
    plans = plan_clients(tenants, clients_per_tenant=3, pushes_per_client=5, seed=3)
    send_concurrently(server.base_url, plans)
    used = {pid: cpu_seconds(pid) - used_before[pid] for pid in pids}
    # Each request came on a new connection; a worker that took none would have stayed idle.
    assert all(seconds >= 0.1 * sum(used.values()) for seconds in used.values()), used
    for tenant in tenants:
        pushes = [push for plan in plans for push in plan if push.tenant is tenant]
        check_last_committed_push_wins(server.base_url, engine, tenant, pushes)
    server.stop()
    assert server.process.returncode == 0
    deadline = time.monotonic() + 15
    while any(is_running(pid) for pid in pids):
        assert time.monotonic() < deadline, "a worker outlived the server"
        time.sleep(0.1)


def test_metrics_of_two_workers_add_up_whichever_answers(
    start_server: Callable[..., ServerProcess], tenant: TestTenant
) -> None:
    """Without adding up, each worker would show only the requests it answered itself."""
    server, _pids = start_two_workers(start_server)
    requests = 40
    headers = {**tenant.headers, "Connection": "close"}

    def read_pushes(count: int) -> None:
        for _ in range(count):
            response = httpx.get(f"{server.base_url}/v2/pushes", headers=headers)
            assert response.status_code == 200

    threads = [threading.Thread(target=read_pushes, args=(requests // 4,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    sample = re.compile(
        r'^pushapi_http_requests_total\{endpoint="/v2/pushes",method="GET",status="200"\} (\S+)$',
        re.MULTILINE,
    )
    seen = []
    for _ in range(8):
        text = httpx.get(f"{server.base_url}/metrics", headers={"Connection": "close"}).text
        found = sample.search(text)
        seen.append(float(found.group(1)) if found else 0.0)
    assert seen == [requests] * len(seen)
