"""Reading a whole tenant back: every contact through GET /v2/contacts paging, next to a floor.

    python bench/listing.py --engine sqlite --contacts 100000
    python bench/listing.py --engine postgresql --contacts 100000 --runs 3 --json

A fresh database and a fresh `pushapi serve` (one worker, default settings); the contacts of the
canonical workload are pushed first, 1,000 per request (not measured). Then one client (this
process) reads them all, `--limit` per page, following `nextCursor` until it is null, and checks
that every contact came back once. The floor, right after, on the same database: the same pages
selected with one keyset query each on the driver (sqlite3, psycopg 3), every stored document
decoded with exact decimals and each page written out as JSON with msgspec. The floor does no
HTTP, no key check, no cursor encoding and no group attributes: what is left is the database and
JSON. Reported: contacts per second (wall clock), the ratio server/floor, and the CPU time of
the server process and of the floor.
"""

import argparse
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import msgspec
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

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
from workload import batch_bodies

LOAD_BATCH = 1000
MAX_LIMIT = 1000  # the server's largest page (routes/deps.py)
_DECODER = msgspec.json.Decoder(float_hook=Decimal)  # exact decimals, as SPEC 3.1 asks
_ENCODER = msgspec.json.Encoder(decimal_format="number")


def load(base_url: str, api_key: str, contacts: int, say: Any) -> None:
    """Push the canonical contacts 1..contacts, LOAD_BATCH per request."""
    say(f"loading {contacts} contacts ...")
    headers = {"ApiKey": api_key, "Content-Type": "application/json"}
    with httpx.Client(base_url=base_url, timeout=300) as client:
        for first in range(1, contacts + 1, LOAD_BATCH * 10):
            count = min(LOAD_BATCH * 10, contacts + 1 - first)
            for body in batch_bodies(count, LOAD_BATCH, first=first):
                response = client.post("/v2/contactinfo", content=body, headers=headers)
                if response.status_code != 200:
                    raise BenchError(f"load: HTTP {response.status_code}: {response.text[:200]}")


def read_server(server: Server, api_key: str, limit: int) -> tuple[float, float, int, int]:
    """Every contact through GET /v2/contacts: seconds, server CPU seconds, contacts, pages."""
    headers = {"ApiKey": api_key}
    seen = pages = 0
    last = ""
    cursor: str | None = None
    with httpx.Client(base_url=server.base_url, timeout=300) as client:
        cpu_before = server.cpu_seconds()
        started = time.perf_counter()
        while True:
            params: dict[str, Any] = {"limit": limit}
            if cursor is not None:
                params["cursor"] = cursor
            response = client.get("/v2/contacts", params=params, headers=headers)
            if response.status_code != 200:
                raise BenchError(f"GET /v2/contacts: HTTP {response.status_code}")
            page = msgspec.json.decode(response.content)
            for item in page["items"]:
                contact_id = item["ContactDetails"]["ContactId"]
                if contact_id <= last:
                    raise BenchError(f"GET /v2/contacts: {contact_id} out of order")
                last = contact_id
            seen += len(page["items"])
            pages += 1
            cursor = page["nextCursor"]
            if cursor is None:
                break
        seconds = time.perf_counter() - started
        cpu = server.cpu_seconds() - cpu_before
    return seconds, cpu, seen, pages


def _floor_pages(database_url: str, tenant_code: str, limit: int) -> Iterator[list[Any]]:
    """The stored (contact_id, doc) rows of the tenant's live contacts, a page at a time."""
    if database_url.startswith("sqlite:///"):
        conn: Any = sqlite3.connect(database_url.removeprefix("sqlite:///"))
        mark = "?"
    else:
        conn = psycopg.connect(database_url, autocommit=True)
        mark = "%s"
    try:
        row = conn.execute(f"SELECT tenant_id FROM tenants WHERE code = {mark}", (tenant_code,))
        tenant_id = row.fetchone()[0]
        query = (
            f"SELECT contact_id, doc FROM contacts WHERE tenant_id = {mark} "
            f"AND contact_id > {mark} AND NOT is_deleted ORDER BY contact_id LIMIT {mark}"
        )
        after = ""
        while True:
            rows = conn.execute(query, (tenant_id, after, limit)).fetchall()
            if not rows:
                return
            yield rows
            after = rows[-1][0]
    finally:
        conn.close()


def read_floor(database_url: str, tenant_code: str, limit: int) -> tuple[float, float, int]:
    """The floor: seconds, CPU seconds of this process, contacts."""
    seen = 0
    cpu_before = time.process_time()
    started = time.perf_counter()
    for rows in _floor_pages(database_url, tenant_code, limit):
        items = [_DECODER.decode(doc) for _, doc in rows]
        _ENCODER.encode({"items": items, "nextCursor": rows[-1][0]})
        seen += len(items)
    return time.perf_counter() - started, time.process_time() - cpu_before, seen


def run(args: argparse.Namespace, say: Any) -> dict[str, Any]:
    report: dict[str, Any] = {
        "machine": machine_info(),
        "engine": args.engine,
        "contacts": args.contacts,
        "limit": args.limit,
        "runs": args.runs,
    }
    measured: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory(prefix="pushapi-listing-") as workdir,
        fresh_databases(args.engine, Path(workdir), args.postgres_url) as databases,
    ):
        api_key = create_tenant(databases.server_url)
        with running_server(SERVE_COMMAND, databases.server_url, Path(workdir)) as server:
            load(server.base_url, api_key, args.contacts, say)
            for run_number in range(1, args.runs + 1):
                seconds, cpu, seen, pages = read_server(server, api_key, args.limit)
                floor_seconds, floor_cpu, floor_seen = read_floor(
                    databases.server_url, "bench", args.limit
                )
                if seen != args.contacts or floor_seen != args.contacts:
                    raise BenchError(
                        f"read {seen} contacts (floor {floor_seen}), expected {args.contacts}"
                    )
                say(
                    f"run {run_number}/{args.runs}: server {seconds:.2f} s, "
                    f"floor {floor_seconds:.2f} s"
                )
                measured.append(
                    {"seconds": seconds, "cpu": cpu, "pages": pages,
                     "floor_seconds": floor_seconds, "floor_cpu": floor_cpu}
                )  # fmt: skip
    seconds = statistics.median(m["seconds"] for m in measured)
    floor_seconds = statistics.median(m["floor_seconds"] for m in measured)
    report.update(
        pages=measured[0]["pages"],
        server={
            "seconds": [round(m["seconds"], 3) for m in measured],
            "per_second": round(args.contacts / seconds),
            "cpu_seconds": [round(m["cpu"], 2) for m in measured],
        },
        floor={
            "seconds": [round(m["floor_seconds"], 3) for m in measured],
            "per_second": round(args.contacts / floor_seconds),
            "cpu_seconds": [round(m["floor_cpu"], 2) for m in measured],
        },
        ratio=round(statistics.median(m["floor_seconds"] / m["seconds"] for m in measured), 3),
        ratios_per_run=[round(m["floor_seconds"] / m["seconds"], 3) for m in measured],
        load_average_after=machine_info()["load_average"],
    )
    return report


def format_table(report: dict[str, Any]) -> str:
    server, floor = report["server"], report["floor"]
    runs = ", ".join(f"{ratio:.2f}" for ratio in report["ratios_per_run"])
    return "\n".join(
        [
            f"listing on {report['engine']}: {report['contacts']} contacts, pages of "
            f"{report['limit']} ({report['pages']} pages), medians of {report['runs']} run(s); "
            f"load average {report['machine']['load_average'][0]} at start, "
            f"{report['load_average_after'][0]} at the end",
            "",
            "| server contacts/s | floor contacts/s | ratio (each run) | CPU s (server; floor) |",
            "|---|---|---|---|",
            f"| {server['per_second']:,} | {floor['per_second']:,} | {report['ratio']:.2f}x "
            f"({runs}) | {statistics.median(server['cpu_seconds']):.2f}; "
            f"{statistics.median(floor['cpu_seconds']):.2f} |",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--limit", type=int, default=MAX_LIMIT, help="contacts per page")
    parser.add_argument("--runs", type=int, default=1, help="readings; medians are reported")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--smoke", action="store_true", help="tiny run: 300 contacts, pages of 100")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    if args.smoke:
        args.contacts, args.limit, args.runs = 300, 100, 1
    if min(args.contacts, args.limit, args.runs) < 1 or args.limit > MAX_LIMIT:
        parser.error(f"--contacts and --runs must be at least 1, --limit 1-{MAX_LIMIT}")

    def say(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    try:
        report = run(args, say)
    except BenchError as error:
        print(f"listing: error: {error}", file=sys.stderr)
        return 1
    print(json.dumps(report, indent=2) if args.json else format_table(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
