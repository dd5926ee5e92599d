"""Push throughput of a real `pushapi serve` process, next to the floor measured on the same bodies.

    python bench/push_throughput.py --engine sqlite --contacts 20000 --batch 1000

Each run gets fresh databases and a fresh server. A separate client (this process) pushes the
canonical workload over HTTP, one request at a time, and measures: a first load, a re-push where
every contact changed, an unchanged re-push, adding ids to one list (/v2/list) and, with
--max-body, one push at the body limit. The floor (bench/floor.py) stores the same bodies right
after the server did. Medians of the runs are printed as a table, or as JSON with --json.
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from floor import FloorStore, Timing, open_floor, run_contact_floor, run_list_floor
from harness import (
    DEFAULT_POSTGRES_URL,
    SERVE_COMMAND,
    BenchError,
    Server,
    create_tenant,
    fresh_databases,
    machine_info,
    running_server,
)
from workload import WORKLOADS, body_of_size, list_body, workload_bodies

MAX_BODY_BYTES = 32 * 1024 * 1024  # the server's default PUSHAPI_MAX_BODY_BYTES
MAX_RECORDS = 10_000  # the server's default PUSHAPI_MAX_RECORDS
MEMORY_TARGET_MIB = 400
COUNT_NAMES = ("received", "created", "updated", "deleted", "unchanged")


@dataclass
class Scenario:
    """One thing measured in every run: what is pushed, what it must yield, the target."""

    name: str
    title: str
    endpoint: str
    bodies: list[bytes]
    records: int  # contacts, or list ids
    expect: str  # the count every record must land in
    repush: bool = False
    target: float | None = None  # the least ratio to the floor the server should reach
    memory_target_mib: float | None = None


@dataclass
class Measured:
    seconds: float
    cpu_seconds: float
    handler_seconds: float  # the durations the push log recorded
    peak_rss_mib: float
    counts: dict[str, int]
    warnings: int


@dataclass
class Outcome:
    scenario: Scenario
    server: list[Measured] = field(default_factory=list)
    floor: list[Timing] = field(default_factory=list)
    skipped: str | None = None


class Pusher:
    """The HTTP client: pushes bodies one request at a time and sums the answers."""

    def __init__(self, base_url: str, api_key: str) -> None:
        self.client = httpx.Client(
            base_url=base_url,
            headers={"ApiKey": api_key, "Content-Type": "application/json"},
            timeout=httpx.Timeout(900),
        )

    def push(self, endpoint: str, bodies: Sequence[bytes]) -> tuple[dict[str, int], int, list[str]]:
        counts = dict.fromkeys(COUNT_NAMES, 0)
        warnings, request_ids = 0, []
        for body in bodies:
            response = self.client.post(f"/v2/{endpoint}", content=body)
            if response.status_code != 200:
                raise BenchError(
                    f"/v2/{endpoint} answered {response.status_code}: {response.text[:300]}"
                )
            answer = response.json()
            for name in COUNT_NAMES:
                counts[name] += answer[name]
            warnings += len(answer["warnings"])
            request_ids.append(answer["requestId"])
        return counts, warnings, request_ids

    def logged_seconds(self, request_ids: list[str]) -> float:
        """Time the server spent in the push handler, as its push log recorded it."""
        total = 0.0
        for request_id in request_ids:
            response = self.client.get(f"/v2/pushes/{request_id}")
            response.raise_for_status()
            total += response.json()["durationMs"] / 1000
        return total

    def endpoint_exists(self, endpoint: str) -> bool:
        return self.client.post(f"/v2/{endpoint}", content=b"[]").status_code not in (404, 405)

    def close(self) -> None:
        self.client.close()


def measure(server: Server, pusher: Pusher, scenario: Scenario) -> Measured:
    if not server.reset_peak_memory():
        raise BenchError("cannot reset the server's peak RSS (/proc/PID/clear_refs)")
    cpu_before = server.cpu_seconds()
    started = time.perf_counter()
    counts, warnings, request_ids = pusher.push(scenario.endpoint, scenario.bodies)
    seconds = time.perf_counter() - started
    cpu = server.cpu_seconds() - cpu_before
    peak = server.memory_mib()["peak_rss_mib"]
    if scenario.expect and counts[scenario.expect] != counts["received"]:
        raise BenchError(f"{scenario.title}: expected every record {scenario.expect}, got {counts}")
    handler = pusher.logged_seconds(request_ids)
    return Measured(seconds, cpu, handler, peak, counts, warnings)


def measure_floor(store: FloorStore, scenario: Scenario) -> Timing:
    if scenario.endpoint == "list":
        return run_list_floor(store, scenario.bodies[0])
    return run_contact_floor(store, scenario.bodies, scenario.repush)


def _contact_scenarios(
    args: argparse.Namespace, workload: str, say: Callable[[str], None]
) -> list[Scenario]:
    """First load, changed re-push and unchanged re-push of one workload (bench/workload.py)."""
    say(f"generating {args.contacts} contacts x 2 variants of the {workload} workload ...")
    first = workload_bodies(workload, args.contacts, args.batch, variant=0)
    changed = workload_bodies(workload, args.contacts, args.batch, variant=1)
    # The canonical workload keeps its names; the others are prefixed with theirs.
    name = "" if workload == "canonical" else f"{workload}_"
    title = "" if workload == "canonical" else f"{workload}: "
    return [
        Scenario(
            f"{name}first_load",
            f"{title}first load",
            "contactinfo",
            first,
            args.contacts,
            "created",
            target=0.9,
        ),
        Scenario(
            f"{name}changed_repush",
            f"{title}changed re-push",
            "contactinfo",
            changed,
            args.contacts,
            "updated",
            repush=True,
            target=0.9,
        ),
        Scenario(
            f"{name}unchanged_repush",
            f"{title}unchanged re-push",
            "contactinfo",
            changed,
            args.contacts,
            "unchanged",
            repush=True,
            target=4.0,
        ),
    ]


def build_scenarios(args: argparse.Namespace, say: Callable[[str], None]) -> list[Scenario]:
    workloads = WORKLOADS if args.workload == "both" else (args.workload,)
    scenarios = [s for w in workloads for s in _contact_scenarios(args, w, say)]
    scenarios += [
        Scenario(
            "list_add",
            f"list: add {args.list_ids} ids",
            "list",
            [list_body("bench-list", args.list_ids)],
            args.list_ids,
            "",
        ),
    ]
    if args.max_body:
        say(f"generating one body of about {MAX_BODY_BYTES // 2**20} MiB ...")
        body = body_of_size(MAX_BODY_BYTES - 64 * 1024, MAX_RECORDS, first=args.contacts + 1)
        title = f"max body ({len(body) / 2**20:.1f} MiB)"
        scenarios.append(
            Scenario(
                "max_body",
                title,
                "contactinfo",
                [body],
                MAX_RECORDS,
                "created",
                target=0.8,
                memory_target_mib=MEMORY_TARGET_MIB,
            )
        )
    return scenarios


def run_once(
    args: argparse.Namespace,
    scenarios: list[Scenario],
    outcomes: list[Outcome],
    workdir: Path,
    say: Callable[[str], None],
) -> None:
    with fresh_databases(args.engine, workdir, args.postgres_url, args.citus) as databases:
        api_key = create_tenant(databases.server_url)
        with (
            running_server(SERVE_COMMAND, databases.server_url, workdir) as server,
            open_floor(args.engine, databases.floor_target) as store,
        ):
            pusher = Pusher(server.base_url, api_key)
            try:
                for scenario, outcome in zip(scenarios, outcomes, strict=True):
                    if scenario.endpoint == "list" and not pusher.endpoint_exists("list"):
                        outcome.skipped = "skipped: endpoint not available"
                        continue
                    measured = measure(server, pusher, scenario)
                    outcome.server.append(measured)
                    outcome.floor.append(measure_floor(store, scenario))
                    say(
                        f"  {scenario.title}: server {measured.seconds:.2f} s, "
                        f"floor {outcome.floor[-1].seconds:.2f} s"
                    )
            finally:
                pusher.close()


def _median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def summarise(outcome: Outcome) -> dict[str, Any]:
    scenario = outcome.scenario
    result: dict[str, Any] = {
        "name": scenario.name,
        "title": scenario.title,
        "endpoint": scenario.endpoint,
        "records": scenario.records,
    }
    if outcome.skipped:
        result["skipped"] = outcome.skipped
        return result
    server, floor = outcome.server, outcome.floor
    seconds, floor_median = (
        _median([m.seconds for m in server]),
        _median([t.seconds for t in floor]),
    )
    ratio = floor_median / seconds
    server_cpu = _median([m.cpu_seconds for m in server])
    # CPU time is counted in clock ticks (10 ms): a tiny run may show none at all.
    cpu_ratio = _median([t.cpu_seconds for t in floor]) / server_cpu if server_cpu else None
    result.update(
        unit="ids" if scenario.endpoint == "list" else "contacts",
        body_bytes=sum(len(b) for b in scenario.bodies),
        requests=len(scenario.bodies),
        server={
            "seconds": [round(m.seconds, 3) for m in server],
            "median_seconds": round(seconds, 3),
            "per_second": round(scenario.records / seconds),
            "handler_seconds": [round(m.handler_seconds, 3) for m in server],
            "cpu_seconds": [round(m.cpu_seconds, 2) for m in server],
            "peak_rss_mib": [m.peak_rss_mib for m in server],
            "median_peak_rss_mib": _median([m.peak_rss_mib for m in server]),
            "counts": server[-1].counts,
            "warnings": server[-1].warnings,
        },
        floor={
            "seconds": [round(t.seconds, 3) for t in floor],
            "cpu_seconds": [round(t.cpu_seconds, 2) for t in floor],
            "median_seconds": round(floor_median, 3),
            "per_second": round(scenario.records / floor_median),
        },
        ratio_to_floor=round(ratio, 3),
        ratios_per_run=[
            round(f.seconds / m.seconds, 3) for f, m in zip(floor, server, strict=True)
        ],
        cpu_ratio_to_floor=None if cpu_ratio is None else round(cpu_ratio, 3),
    )
    if scenario.target is not None:
        result["target_ratio"] = scenario.target
        result["meets_target"] = ratio >= scenario.target
    if scenario.memory_target_mib is not None:
        result["memory_target_mib"] = scenario.memory_target_mib
        result["meets_memory_target"] = (
            result["server"]["median_peak_rss_mib"] < scenario.memory_target_mib
        )
    return result


COLUMNS = (
    "scenario",
    "server/s",
    "floor/s",
    "ratio",
    "target",
    "cpu ratio",
    "peak RSS",
    "in handler",
)
LEGEND = (
    "server/s, floor/s: contacts (list: ids) per second, wall clock; ratio = server/floor.",
    "cpu ratio: floor CPU seconds / server CPU seconds (Python processes only; PostgreSQL's own "
    "work is in neither), less sensitive to other load on the machine.",
    "peak RSS: the server's VmHWM during the scenario. in handler: share of the wall time that "
    "the push log recorded as the push's duration (read the body, validate, apply; not the "
    "commit, which comes after).",
)


def _cells(s: dict[str, Any]) -> list[str]:
    """One scenario's row: the values under COLUMNS."""
    if "skipped" in s:
        return [s["title"], s["skipped"], *[""] * (len(COLUMNS) - 2)]
    target = f">={s['target_ratio']}x" if "target_ratio" in s else ""
    if "meets_target" in s:
        target += " ok" if s["meets_target"] else " NO"
    peak = f"{s['server']['median_peak_rss_mib']:.0f} MiB"
    if "meets_memory_target" in s:
        peak += f" (<{s['memory_target_mib']}: {'ok' if s['meets_memory_target'] else 'NO'})"
    handler = _median(s["server"]["handler_seconds"]) / s["server"]["median_seconds"]
    return [
        s["title"],
        f"{s['server']['per_second']:,}",
        f"{s['floor']['per_second']:,}",
        f"{s['ratio_to_floor']:.2f}x",
        target,
        "-" if s["cpu_ratio_to_floor"] is None else f"{s['cpu_ratio_to_floor']:.2f}x",
        peak,
        f"{handler:.0%}",
    ]


def _heading(report: dict[str, Any]) -> list[str]:
    machine = report["machine"]
    return [
        f"pushapi push throughput: engine {report['engine']}, {report['contacts']} contacts in "
        f"batches of {report['batch']}, medians of {report['runs']} run(s)",
        f"machine: {machine['nproc']} CPUs (nproc), {machine['cpu_model']}, Python "
        f"{machine['python']}, load average {machine['load_average'][0]} at start, "
        f"{report['load_average_after'][0]} at the end",
    ]


def format_table(report: dict[str, Any]) -> str:
    rows = [list(COLUMNS), *(_cells(s) for s in report["scenarios"])]
    widths = [max(len(row[i]) for row in rows if row[2] or i == 0) for i in range(len(COLUMNS))]
    lines = [*_heading(report), ""]
    for row in rows:
        if not row[2]:  # skipped: the reason spans the row
            lines.append(f"{row[0]:<{widths[0]}}  {row[1]}")
            continue
        cells = [f"{row[0]:<{widths[0]}}"]
        cells += [f"{cell:>{width}}" for cell, width in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join(cells))
    return "\n".join([*lines, "", *LEGEND])


def format_markdown(report: dict[str, Any]) -> str:
    lines = [f"{line}  " for line in _heading(report)]
    lines += ["", "| " + " | ".join(COLUMNS) + " |", "|---" * len(COLUMNS) + "|"]
    lines += ["| " + " | ".join(_cells(s)) + " |" for s in report["scenarios"]]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--contacts", type=int, default=20_000, help="contacts per scenario")
    parser.add_argument("--batch", type=int, default=1000, help="contacts per request")
    parser.add_argument("--runs", type=int, default=3, help="runs; medians are reported")
    parser.add_argument("--list-ids", type=int, default=50_000, help="ids added to one list")
    parser.add_argument(
        "--workload",
        choices=(*WORKLOADS, "both"),
        default="canonical",
        help="canonical: the canonical contact; shapes: blank strings, nulls, offsets and a "
        "sparse change (bench/workload.py); both: one after the other in every run",
    )
    parser.add_argument(
        "--max-body",
        action="store_true",
        help=f"also push one body of about {MAX_BODY_BYTES // 2**20} MiB",
    )
    parser.add_argument(
        "--postgres-url",
        default=DEFAULT_POSTGRES_URL,
        help="an admin database; fresh databases are created and dropped there",
    )
    parser.add_argument(
        "--citus",
        action="store_true",
        help="--postgres-url is a Citus coordinator with workers: the server's database is made"
        " on every node and distributed (pushapi db distribute) after migrating",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="tiny run: 200 contacts, batches of 100, 1 run, 500 list ids",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument("--output", type=Path, help="also write the JSON results to this file")
    args = parser.parse_args(argv)
    if args.smoke:
        args.contacts, args.batch, args.runs, args.list_ids = 200, 100, 1, 500
    if args.citus and args.engine != "postgresql":
        parser.error("--citus needs --engine postgresql")
    if min(args.contacts, args.batch, args.runs, args.list_ids) < 1:
        parser.error("--contacts, --batch, --runs and --list-ids must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)

    def say(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    report: dict[str, Any] = {
        "machine": machine_info(),
        "engine": "citus" if args.citus else args.engine,
        "contacts": args.contacts,
        "batch": args.batch,
        "runs": args.runs,
        "workload": args.workload,
    }
    try:
        scenarios = build_scenarios(args, say)
        outcomes = [Outcome(scenario) for scenario in scenarios]
        with tempfile.TemporaryDirectory(prefix="pushapi-bench-") as workdir:
            for run in range(1, args.runs + 1):
                say(f"run {run}/{args.runs} on {'citus' if args.citus else args.engine}")
                run_once(args, scenarios, outcomes, Path(workdir), say)
    except BenchError as error:
        print(f"push_throughput: error: {error}", file=sys.stderr)
        return 1
    report["load_average_after"] = machine_info()["load_average"]
    report["scenarios"] = [summarise(outcome) for outcome in outcomes]
    text = json.dumps(report, indent=2)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text + "\n")
    if args.json:
        print(text)
    else:
        print(format_markdown(report) if args.markdown else format_table(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
