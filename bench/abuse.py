"""Memory and latency of a real `pushapi serve` under the abuse docs/operations.md bounds:
oversized records, many pushes at the body limit at once, one tenant flooding the server.

    python bench/abuse.py --engine sqlite
    python bench/abuse.py --engine postgresql --json

Scenarios (each on a fresh database and server, default settings unless said):
- oversized: one list record of 2.6 million ids (about 30 MiB) and one contact of 850,000 Groups
  entries: the answers and the server's peak resident memory.
- concurrent: 1, 4, 8 and 16 clients each pushing one body of 10,000 contacts at the body limit
  at once: statuses, the slowest answer, the server's peak memory.
- flood: while one push of tenant A holds its tenant's lock (a large push), 30 more of tenant A
  over its rate limit, and reads of tenant B meanwhile: the latencies of the 429s and of B's
  reads, and /healthz.
"""

import argparse
import asyncio
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
    Server,
    create_tenant,
    fresh_databases,
    machine_info,
    running_server,
)
from workload import body_of_size

MAX_BODY_BYTES = 32 * 1024 * 1024


def headers(key: str) -> dict[str, str]:
    return {"ApiKey": key, "Content-Type": "application/json"}


async def post(client: httpx.AsyncClient, path: str, body: bytes, key: str) -> tuple[int, float]:
    started = time.perf_counter()
    response = await client.post(path, content=body, headers=headers(key))
    return response.status_code, time.perf_counter() - started


def oversized(server: Server, key: str) -> dict[str, Any]:
    ids = [f"C{i:07d}" for i in range(2_600_000)]
    list_body = json.dumps([{"ListId": "L", "Mode": "Replace", "ContactIds": ids}]).encode()
    groups = [{"GroupId": f"G{i}"} for i in range(850_000)]
    contact = {"ContactDetails": {"ContactId": "c", "LastName": "L"}, "Groups": groups}
    contact_body = json.dumps([contact]).encode()
    found = {}
    with httpx.Client(base_url=server.base_url, timeout=600) as client:
        for name, path, body in (
            ("list_2.6M_ids", "/v2/list", list_body),
            ("contact_850k_groups", "/v2/contactinfo", contact_body),
        ):
            server.reset_peak_memory()
            started = time.perf_counter()
            response = client.post(path, content=body, headers=headers(key))
            found[name] = {
                "body_mib": round(len(body) / 2**20, 1),
                "status": response.status_code,
                "seconds": round(time.perf_counter() - started, 2),
                "peak_rss_mib": server.memory_mib()["peak_rss_mib"],
                "errors": response.json().get("errors", [])[:1],
            }
    return found


async def concurrent(server: Server, keys: list[str], body: bytes) -> dict[str, Any]:
    server.reset_peak_memory()
    async with httpx.AsyncClient(base_url=server.base_url, timeout=900) as client:
        answers = await asyncio.gather(*(post(client, "/v2/contactinfo", body, k) for k in keys))
    statuses: dict[str, int] = {}
    for status, _ in answers:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    return {
        "clients": len(keys),
        "statuses": statuses,
        "slowest_seconds": round(max(seconds for _, seconds in answers), 2),
        "peak_rss_mib": server.memory_mib()["peak_rss_mib"],
    }


async def flood(server: Server, key_a: str, key_b: str, big: bytes) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=900) as client:
        small = b'[{"ContactDetails": {"ContactId": "x", "LastName": "X"}}]'
        await post(client, "/v2/contactinfo", small, key_a)  # the one push the limit allows
        holder = asyncio.create_task(post(client, "/v2/contactinfo", big, key_a))
        await asyncio.sleep(0.5)  # the large push is being read and applied
        limited = [post(client, "/v2/contactinfo", small, key_a) for _ in range(30)]

        async def read_b() -> tuple[int, float]:
            started = time.perf_counter()
            response = await client.get("/v2/contacts", headers={"ApiKey": key_b})
            return response.status_code, time.perf_counter() - started

        async def health() -> tuple[int, float]:
            started = time.perf_counter()
            response = await client.get("/healthz")
            return response.status_code, time.perf_counter() - started

        results = await asyncio.gather(
            *limited, *(read_b() for _ in range(10)), *(health() for _ in range(5))
        )
        held = await holder
    refused, reads, healths = results[:30], results[30:40], results[40:]
    return {
        "holder": {"status": held[0], "seconds": round(held[1], 2)},
        "rate_limited": summary(refused),
        "reads_of_another_tenant": summary(reads),
        "healthz": summary(healths),
    }


def summary(answers: Sequence[tuple[int, float]]) -> dict[str, Any]:
    seconds = sorted(s for _, s in answers)
    return {
        "statuses": sorted({status for status, _ in answers}),
        "median_ms": round(statistics.median(seconds) * 1000, 1),
        "max_ms": round(seconds[-1] * 1000, 1),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    report: dict[str, Any] = {"machine": machine_info(), "engine": args.engine}
    body = body_of_size(MAX_BODY_BYTES - 64 * 1024, 10_000, first=1)
    with tempfile.TemporaryDirectory(prefix="pushapi-abuse-") as workdir:
        with fresh_databases(args.engine, Path(workdir), args.postgres_url) as databases:
            key = create_tenant(databases.server_url)
            with running_server(SERVE_COMMAND, databases.server_url, Path(workdir)) as server:
                report["oversized"] = oversized(server, key)
        report["concurrent"] = []
        for clients in (1, 4, 8, 16):
            with fresh_databases(args.engine, Path(workdir), args.postgres_url) as databases:
                keys = [create_tenant(databases.server_url, f"t{n}") for n in range(clients)]
                with running_server(SERVE_COMMAND, databases.server_url, Path(workdir)) as server:
                    report["concurrent"].append(asyncio.run(concurrent(server, keys, body)))
        with fresh_databases(args.engine, Path(workdir), args.postgres_url) as databases:
            key_a = create_tenant(databases.server_url, "a")
            key_b = create_tenant(databases.server_url, "b")
            command = (*SERVE_COMMAND,)
            with running_server(
                command, databases.server_url, Path(workdir), {"PUSHAPI_RATE_LIMIT_PER_MINUTE": "2"}
            ) as server:
                report["flood"] = asyncio.run(flood(server, key_a, key_b, body))
    print(json.dumps(report, indent=2) if args.json else json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
