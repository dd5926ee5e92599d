"""Small pushes: one record per request (as Tendenci, an open-source client of this API, sends
them) and 10 per request, against the floor app (bench/floor_app.py), over keep-alive.

    python bench/small_pushes.py --engine sqlite
    python bench/small_pushes.py --engine postgresql --requests 500 --json
    python bench/small_pushes.py --engine sqlite --interleave 50

Each scenario runs on a fresh database, pushapi and the floor app each with one worker, one
client sending its requests one after the other (each waits for the answer before the next, as
a sync client does). Scenarios: new contacts one per request; the same contacts changed, one per
request; new contacts ten per request. Reported: requests per second, the ratio to the floor
app's, the latency of a request at the median and the 99th percentile, and the CPU time of
each process per request (/proc; it moves less than the rates when the machine is shared).

By default the server takes all its requests of a scenario, then the floor app; a machine whose
speed drifts between the two moves the ratio. With `--interleave N` they take turns, N requests
at a time, the order reversed every turn, so that both are measured over the same stretch.
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (
    DEFAULT_POSTGRES_URL,
    SERVE_COMMAND,
    BenchError,
    create_tenant,
    fresh_databases,
    machine_info,
    running_server,
)
from workload import make_contact

FLOOR_APP = (sys.executable, str(Path(__file__).resolve().parent / "floor_app.py"))
FLOOR_KEY = "floor-key"
WARM_UP = 20  # requests before measuring, on other records


def _bodies(requests: int, per_request: int, variant: int, first: int) -> list[bytes]:
    return [
        json.dumps(
            [make_contact(first + n * per_request + i, variant) for i in range(per_request)]
        ).encode()
        for n in range(requests)
    ]


def _send(base_url: str, key: str, bodies: list[bytes]) -> list[float]:
    """Send the bodies one after the other; the seconds of each request."""
    headers = {"ApiKey": key, "Content-Type": "application/json"}
    seconds = []
    with httpx.Client(base_url=base_url, timeout=60) as client:
        for body in bodies:
            started = time.perf_counter()
            response = client.post("/v2/contactinfo", content=body, headers=headers)
            seconds.append(time.perf_counter() - started)
            if response.status_code != 200:
                raise BenchError(f"{base_url}: HTTP {response.status_code}: {response.text[:200]}")
    return seconds


def _summary(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    return {
        "per_second": round(len(seconds) / sum(seconds), 1),
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 2),
    }


SCENARIOS = (
    # name, records per request, changed (a second pass over the same records)
    ("1 record per request, new", 1, False),
    ("1 record per request, changed", 1, True),
    ("10 records per request, new", 10, False),
)


def _measure(
    targets: dict[str, tuple[Any, str]], bodies: list[bytes], warm: list[bytes], block: int
) -> dict[str, dict[str, float]]:
    """Warm each target up, then send it every body (each target has its own database): one
    target after the other, or with `block`, in blocks of that many requests to each in turn,
    the order reversed every round, so that both are measured over the same stretch of time.
    The summary of each target's requests, with its CPU time per request."""
    for target, target_key in targets.values():
        _send(target.base_url, target_key, warm)
    seconds: dict[str, list[float]] = {label: [] for label in targets}
    cpu: dict[str, float] = dict.fromkeys(targets, 0.0)
    size = block or len(bodies)
    order = list(targets)
    for round_number, start in enumerate(range(0, len(bodies), size)):
        for label in order if round_number % 2 == 0 else order[::-1]:
            target, target_key = targets[label]
            cpu_before = target.cpu_seconds()
            seconds[label] += _send(target.base_url, target_key, bodies[start : start + size])
            cpu[label] += target.cpu_seconds() - cpu_before
    results = {}
    for label in targets:
        results[label] = _summary(seconds[label])
        results[label]["cpu_ms"] = round(cpu[label] / len(bodies) * 1000, 2)
    return results


def run_once(engine: str, requests: int, postgres_url: str, block: int = 0) -> list[dict[str, Any]]:
    """Every scenario once, on fresh databases and fresh processes; with `block`, server and
    floor take turns (`_measure`)."""
    scenarios: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory(prefix="pushapi-small-") as workdir,
        fresh_databases(engine, Path(workdir), postgres_url) as databases,
    ):
        floor_url = (
            f"sqlite:///{databases.floor_target}" if engine == "sqlite"
            else databases.floor_target
        )  # fmt: skip
        key = create_tenant(databases.server_url)
        with (
            running_server(SERVE_COMMAND, databases.server_url, Path(workdir)) as server,
            running_server(FLOOR_APP, floor_url, Path(workdir)) as floor,
        ):
            for name, per_request, changed in SCENARIOS:
                first = 1 + len(scenarios) * 1_000_000
                if changed:
                    first = scenarios[-1]["first"]
                bodies = _bodies(requests, per_request, 1 if changed else 0, first)
                warm = _bodies(WARM_UP, per_request, 0, 900_000_000 + first)
                results = _measure(
                    {"server": (server, key), "floor": (floor, FLOOR_KEY)}, bodies, warm, block
                )
                ratio = results["server"]["per_second"] / results["floor"]["per_second"]
                scenarios.append(
                    {"name": name, "first": first, "requests": requests,
                     "ratio": round(ratio, 2), **results}
                )  # fmt: skip
    return scenarios


def _medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One scenario over several runs: the median of each figure, and each run's ratio."""
    summary = {key: runs[0][key] for key in ("name", "requests")}
    summary["ratio"] = round(statistics.median(r["ratio"] for r in runs), 2)
    summary["ratios_per_run"] = [r["ratio"] for r in runs]
    for label in ("server", "floor"):
        summary[label] = {
            figure: round(statistics.median(r[label][figure] for r in runs), 2)
            for figure in runs[0][label]
        }
    return summary


def run(
    engine: str, requests: int, postgres_url: str, runs: int = 1, block: int = 0
) -> dict[str, Any]:
    report: dict[str, Any] = {
        "machine": machine_info(),
        "engine": engine,
        "runs": runs,
        "interleave": block,
    }
    every = [run_once(engine, requests, postgres_url, block) for _ in range(runs)]
    report["scenarios"] = [_medians(list(of_scenario)) for of_scenario in zip(*every, strict=True)]
    report["load_average_after"] = machine_info()["load_average"]
    return report


def format_table(report: dict[str, Any]) -> str:
    lines = [
        f"small pushes on {report['engine']}, one client, keep-alive, "
        f"{report['scenarios'][0]['requests']} requests per scenario, medians of "
        f"{report['runs']} run(s)"
        + (f", in turns of {report['interleave']} requests" if report["interleave"] else "")
        + f"; load average {report['machine']['load_average'][0]} at "
        f"start, {report['load_average_after'][0]} at the end",
        "",
        "| scenario | server req/s | floor req/s | ratio (each run) | server p50 / p99 ms "
        "| floor p50 / p99 ms | CPU ms per request (server; floor) |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in report["scenarios"]:
        server, floor = s["server"], s["floor"]
        runs = ", ".join(f"{ratio:.2f}" for ratio in s["ratios_per_run"])
        lines.append(
            f"| {s['name']} | {server['per_second']:,.0f} | {floor['per_second']:,.0f} "
            f"| {s['ratio']:.2f}x ({runs}) | {server['p50_ms']} / {server['p99_ms']} "
            f"| {floor['p50_ms']} / {floor['p99_ms']} "
            f"| {server['cpu_ms']}; {floor['cpu_ms']} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--requests", type=int, default=500, help="requests per scenario")
    parser.add_argument("--runs", type=int, default=1, help="runs; medians are reported")
    parser.add_argument(
        "--interleave",
        type=int,
        default=0,
        metavar="N",
        help="server and floor take turns, N requests at a time (default: one, then the other)",
    )
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.interleave < 0:
        parser.error("--interleave must be 0 or more")
    try:
        report = run(args.engine, args.requests, args.postgres_url, args.runs, args.interleave)
    except BenchError as error:
        print(f"small_pushes: {error}", file=sys.stderr)
        return 1
    print(json.dumps(report, indent=2) if args.json else format_table(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
