"""Where the time of a push goes: a real server under a sampling profiler, broken down by step.

    /tmp/venv/bin/pip install pyinstrument   # for profiling only; not a project dependency
    python bench/profile_push.py --engine sqlite --contacts 10000 --batch 1000

Runs `bench/profile_server.py` (pushapi serve with pyinstrument on the event-loop thread and on
every worker thread) on a fresh database, pushes a first load, a changed re-push and an unchanged
re-push of the canonical workload (or `--workload shapes`) over HTTP, profiles each, and prints
the share of each step: body splitting, recognition, validation (compiled reader, parse_object),
prepare_contact, SQL, commit, push log, HTTP, middleware. The sessions and pyinstrument's own
renderings go to --out.
"""

import argparse
import json
import os
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (
    DEFAULT_POSTGRES_URL,
    BenchError,
    Server,
    create_tenant,
    fresh_databases,
    machine_info,
    running_server,
)
from push_throughput import Pusher
from workload import WORKLOADS, workload_bodies

try:
    from pyinstrument.frame import Frame
    from pyinstrument.renderers import ConsoleRenderer
    from pyinstrument.session import Session
except ImportError:  # pragma: no cover - told to the user below
    Frame = Session = ConsoleRenderer = None  # type: ignore[assignment, misc]

IDLE = "idle: event loop waiting (network, worker thread)"


@dataclass(frozen=True)
class Rule:
    """Frames matching this rule, and what they call, count as `category`.

    The innermost matching frame decides, unless an outer match is `sticky` (then everything
    below it is that category: a push log write is push log, whatever SQL it runs).
    """

    category: str
    functions: tuple[str, ...] = ()
    class_name: str | None = None
    file_part: str | None = None
    sticky: bool = False

    def matches(self, frame: Any) -> bool:
        if self.functions and frame.function not in self.functions:
            return False
        if self.class_name is not None and frame.class_name != self.class_name:
            return False
        return self.file_part is None or self.file_part in (frame.file_path or "")


RULES = (
    # worker thread: the push itself
    Rule("JSON: split the body into records (msgspec)", ("split_body",), sticky=True),
    Rule("recognition: digests of the records", ("raw_digests",), sticky=True),
    Rule("recognition: lookup of the digests", ("recognise_contacts",)),
    Rule("JSON parsing: json.loads with Decimal", ("_load_body",), sticky=True),
    Rule(
        "validation: DateTime values",
        ("parse_datetime", "millis_zoned", "_datetime"),
        sticky=True,
    ),
    Rule("validation: decimal values", ("parse_decimal", "_number"), sticky=True),
    Rule(
        "validation: string, id, int, bool values",
        ("parse_string", "parse_id", "parse_int", "parse_bool", "parse_id_list"),
        sticky=True,
    ),
    Rule("validation: compiled reader (msgspec structs, finishing)", ("read",), "CompiledReader"),
    Rule(
        "validation: parse_object walk (lookups, paths, requirements)",
        ("parse_object",),
        file_part="pushapi/schema/",
    ),
    Rule("prepare_contact: dump_document (msgspec)", ("dump_document",), sticky=True),
    Rule("prepare_contact: content_hash (blake2b)", ("content_hash",), sticky=True),
    Rule("warnings: e-mails, memberships", ("contact_warnings", "warn_records"), sticky=True),
    Rule("prepare_contact: normalise (memberships, copies)", ("prepare_contact",)),
    Rule("SQL: bulk insert/update (driver)", ("insert_rows", "update_rows"), sticky=True),
    # New contacts sent to the COPY that stays open while a push is prepared (PostgreSQL), and
    # the end of that COPY (contacts._prepare_contacts closes it through an ExitStack).
    Rule(
        "SQL: bulk insert/update (driver)",
        ("<lambda>",),
        file_part="pushapi/store/dialect.py",
        sticky=True,
    ),
    Rule("SQL: bulk insert/update (driver)", ("__exit__",), "ExitStack", sticky=True),
    Rule(
        "SQL: driver execute/executemany",
        ("do_execute", "do_executemany", "do_execute_no_params"),
        file_part="/sqlalchemy/",
        sticky=True,
    ),
    Rule(
        "SQL: SQLAlchemy (compile, bind processing, results)",
        ("execute",),
        "Connection",
        "/sqlalchemy/",
    ),
    Rule(
        "transaction: begin + write lock", ("__enter__",), "_GeneratorContextManager", sticky=True
    ),
    Rule("transaction: commit", ("__exit__",), "_GeneratorContextManager", sticky=True),
    Rule("push log: write entry", ("write_push_log", "log_refusal"), sticky=True),
    Rule("apply: Python (replay, rows, groups, references)", ("apply_contact_push",)),
    Rule(
        "auth: API key check (query, hash)",
        ("current_caller", "push_caller", "authenticate"),
        sticky=True,
    ),
    # event-loop thread: HTTP, framework, middleware, response
    Rule(IDLE, ("epoll.poll", "poll"), sticky=True),
    Rule(IDLE, ("select",), "EpollSelector", sticky=True),
    Rule("HTTP: uvicorn + its parser (parse request, send response)", file_part="/uvicorn/"),
    Rule("HTTP: uvicorn + its parser (parse request, send response)", file_part="/h11/"),
    Rule("HTTP: uvicorn + its parser (parse request, send response)", file_part="/httptools/"),
    Rule("HTTP: uvicorn + its parser (parse request, send response)", file_part="serving.py"),
    Rule("framework: Starlette/FastAPI (routing, dependencies)", file_part="/starlette/"),
    Rule("framework: Starlette/FastAPI (routing, dependencies)", file_part="/fastapi/"),
    Rule("middleware: RequestContext (request id, header)", ("__call__",), "RequestContext"),
    Rule("middleware: access log line", file_part="/logging/", sticky=True),
    Rule("middleware: access log line", file_part="pushapi/logs.py", sticky=True),
    Rule("middleware: metrics", file_part="pushapi/metrics.py", sticky=True),
    Rule("middleware: metrics", file_part="/prometheus_client/", sticky=True),
    Rule("handler: read body (chunks, join)", ("_read_body",), sticky=True),
    Rule("handler: response (counts, warnings, JSON)", ("handle_push",)),
)
OTHER = {"worker": "worker: other (thread hand-off)", "main": "event loop: other (asyncio)"}


def categorise(frame: Any, category: str, sticky: bool, totals: dict[str, float]) -> None:
    """Add each frame's own time to the category its innermost (or sticky) rule gives."""
    if not sticky:
        for rule in RULES:
            if rule.matches(frame):
                category, sticky = rule.category, rule.sticky
                break
    own = frame.time - sum(child.time for child in frame.children)
    totals[category] = totals.get(category, 0.0) + max(own, 0.0)
    for child in frame.children:
        categorise(child, category, sticky, totals)


def breakdown(out_dir: Path, label: str) -> dict[str, float]:
    """Seconds per category over both threads, idle time of the event loop set apart."""
    totals: dict[str, float] = {}
    for thread in ("main", "worker"):
        path = out_dir / f"{thread}.pyisession"
        if not path.exists():
            continue
        session = Session.load(str(path))
        root = session.root_frame()
        if root is not None:
            categorise(root, OTHER[thread], False, totals)
        renderer = ConsoleRenderer(unicode=False, color=False, short_mode=False, time="seconds")
        (out_dir / f"{label}-{thread}.txt").write_text(renderer.render(session))
        path.rename(out_dir / f"{label}-{thread}.pyisession")
    return totals


def profile_scenario(
    server: Server, pusher: Pusher, bodies: list[bytes], expect: str, out_dir: Path, label: str
) -> dict[str, Any]:
    (out_dir / "done").unlink(missing_ok=True)
    os.kill(server.pid, signal.SIGUSR1)
    time.sleep(0.5)  # let the window open before the first request
    started = time.perf_counter()
    counts, _warnings, _ids = pusher.push("contactinfo", bodies)
    seconds = time.perf_counter() - started
    os.kill(server.pid, signal.SIGUSR2)
    deadline = time.monotonic() + 120
    while not (out_dir / "done").exists():
        if time.monotonic() > deadline:
            raise BenchError(f"the profiler wrote nothing:\n{server.log_tail()}")
        time.sleep(0.1)
    if counts[expect] != counts["received"]:
        raise BenchError(f"{label}: expected every record {expect}, got {counts}")
    totals = breakdown(out_dir, label)
    idle = totals.pop(IDLE, 0.0)
    busy = sum(totals.values())
    return {
        "scenario": label,
        "wall_seconds": round(seconds, 3),
        "profiled_busy_seconds": round(busy, 3),
        "event_loop_idle_seconds": round(idle, 3),
        "categories": {
            name: {"seconds": round(value, 3), "share": round(value / busy, 4)}
            for name, value in sorted(totals.items(), key=lambda item: -item[1])
        },
    }


def format_profile(result: dict[str, Any]) -> str:
    lines = [
        f"{result['scenario']}: {result['wall_seconds']:.2f} s wall for the client; profiled "
        f"{result['profiled_busy_seconds']:.2f} s busy in the server",
    ]
    groups: dict[str, float] = {}
    for name, value in result["categories"].items():
        group = name.split(":")[0]
        groups[group] = groups.get(group, 0.0) + value["share"]
    for group, share in sorted(groups.items(), key=lambda item: -item[1]):
        lines.append(f"  {share:6.1%}  {group}")
        for name, value in result["categories"].items():
            if name.split(":")[0] == group and value["share"] >= 0.001:
                lines.append(f"      {value['share']:6.1%}  {name.split(':', 1)[1].strip()}")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--workload", choices=WORKLOADS, default="canonical")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "profile")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if Session is None:
        print(
            "profile_push: error: pyinstrument is not installed (pip install pyinstrument)",
            file=sys.stderr,
        )
        return 1
    out_dir = args.out / args.engine
    out_dir.mkdir(parents=True, exist_ok=True)
    command = (
        sys.executable,
        str(Path(__file__).parent / "profile_server.py"),
        str(out_dir),
        "serve",
    )
    first = workload_bodies(args.workload, args.contacts, args.batch, variant=0)
    changed = workload_bodies(args.workload, args.contacts, args.batch, variant=1)
    plan = (
        ("first_load", first, "created"),
        ("changed_repush", changed, "updated"),
        ("unchanged_repush", changed, "unchanged"),
    )
    report: dict[str, Any] = {
        "machine": machine_info(),
        "engine": args.engine,
        "contacts": args.contacts,
        "batch": args.batch,
        "profiles": [],
    }
    try:
        with (
            tempfile.TemporaryDirectory(prefix="pushapi-profile-") as workdir,
            fresh_databases(args.engine, Path(workdir), args.postgres_url) as databases,
        ):
            api_key = create_tenant(databases.server_url)
            with running_server(command, databases.server_url, Path(workdir)) as server:
                pusher = Pusher(server.base_url, api_key)
                for label, bodies, expect in plan:
                    print(f"profiling {label} on {args.engine} ...", file=sys.stderr)
                    result = profile_scenario(server, pusher, bodies, expect, out_dir, label)
                    report["profiles"].append(result)
                pusher.close()
    except BenchError as error:
        print(f"profile_push: error: {error}", file=sys.stderr)
        return 1
    (out_dir / "profile.json").write_text(json.dumps(report, indent=2) + "\n")
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        machine = report["machine"]
        print(
            f"engine {args.engine}, {args.contacts} contacts in batches of {args.batch}, "
            f"wall clock; {machine['nproc']} CPUs {machine['cpu_model']}, load "
            f"average {machine['load_average'][0]}; renderings in {out_dir}\n"
        )
        print("\n\n".join(format_profile(result) for result in report["profiles"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
