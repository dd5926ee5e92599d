"""The console's pages at scale (SPEC 9): 1,000 tenants whose push log holds 10,000,000 rows,
on PostgreSQL, read through a real `pushapi serve` by a signed-in operator.

    python bench/console_overview.py                       # 1,000 tenants, 10 M push-log rows
    python bench/console_overview.py --tenants 50 --rows 100000 --requests 5   # a quick look

The push log is generated in the database (INSERT ... SELECT generate_series): spread over 90
days, 1 push in 20 refused, request ids made as the server makes them (the time, then random
bits), so every index is as a real log's. `push_days` and the contact counts are then built from
it as migration 0008 builds them. Reported: for each page, the median and the slowest of
`--requests` requests, after one request that warms the caches.
"""

import argparse
import json
import re
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (
    DEFAULT_POSTGRES_URL,
    SERVE_COMMAND,
    BenchError,
    fresh_databases,
    machine_info,
    running_server,
)

# Request ids: Crockford's base 32 of (milliseconds << 80 | 80 random bits), 26 characters: the
# first 10 characters are the milliseconds, the other 16 the random bits (request_ids.py).
FILL = """
CREATE FUNCTION pg_temp.b32(value bigint, digits int) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT string_agg(substr('0123456789abcdefghjkmnpqrstvwxyz',
                           ((value >> (5 * (digits - 1 - i))) & 31)::int + 1, 1), '' ORDER BY i)
  FROM generate_series(0, digits - 1) AS i
$$;
INSERT INTO tenants (tenant_id, code, platform, region, community_group_types, created_at)
  SELECT t, 'tenant-' || lpad(t::text, 5, '0'), 'community', 'us', '[]', now() - interval '1 year'
  FROM generate_series(1, {tenants}) AS t;
INSERT INTO tenant_state (tenant_id) SELECT tenant_id FROM tenants;
INSERT INTO push_log (tenant_id, request_id, endpoint, received_at, key_id, status, received,
                      created, updated, deleted, unchanged, warning_count, error_count, detail,
                      duration_ms, rejected, dry_run)
  SELECT 1 + g % {tenants},
         pg_temp.b32((extract(epoch FROM at) * 1000)::bigint, 10) || pg_temp.b32(g, 16),
         'contactinfo', at, NULL,
         CASE WHEN g % 20 = 0 THEN 400 ELSE 200 END,
         100, CASE WHEN g % 20 = 0 THEN 0 ELSE 10 END, CASE WHEN g % 20 = 0 THEN 0 ELSE 30 END,
         0, CASE WHEN g % 20 = 0 THEN 0 ELSE 60 END, 0, CASE WHEN g % 20 = 0 THEN 3 ELSE 0 END,
         '{{"error":null,"message":null,"warnings":[],"errors":[]}}', 12.5, 0, FALSE
  FROM (SELECT g, now() - (g::float8 / {rows}) * interval '90 days' AS at
        FROM generate_series(1, {rows}) AS g) AS generated;
INSERT INTO push_days (tenant_id, day, pushes, refused_pushes, created, updated, deleted,
                       unchanged, rejected)
  SELECT tenant_id, (received_at AT TIME ZONE 'UTC')::date, count(*),
         sum(CASE WHEN status = 200 THEN 0 ELSE 1 END), sum(created), sum(updated), sum(deleted),
         sum(unchanged), sum(CASE WHEN status = 200 THEN rejected ELSE received END)
  FROM push_log GROUP BY 1, 2;
UPDATE tenant_state SET contact_count = 1000 * tenant_id;
ANALYZE;
"""

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def _fill(url: str, tenants: int, rows: int) -> float:
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in FILL.format(tenants=int(tenants), rows=int(rows)).split(";\n"):
            if statement.strip():
                conn.execute(statement)  # type: ignore[call-overload]
    return time.perf_counter() - started


def _timed(client: httpx.Client, path: str, requests: int) -> dict[str, float]:
    answer = client.get(path)  # warms the caches
    if answer.status_code != 200:
        raise BenchError(f"GET {path}: {answer.status_code} {answer.text[:200]}")
    seconds = []
    for _ in range(requests):
        started = time.perf_counter()
        answer = client.get(path)
        seconds.append(time.perf_counter() - started)
        if answer.status_code != 200:
            raise BenchError(f"GET {path}: {answer.status_code}")
    return {
        "median_ms": round(statistics.median(seconds) * 1000, 1),
        "max_ms": round(max(seconds) * 1000, 1),
    }


def run(tenants: int, rows: int, requests: int, postgres_url: str) -> dict[str, object]:
    from pushapi.config import Settings
    from pushapi.store.engine import build_engine
    from pushapi.store.migrate import upgrade_database
    from pushapi.store.operators import create_operator

    with (
        tempfile.TemporaryDirectory() as workdir,
        fresh_databases("postgresql", Path(workdir), postgres_url) as databases,
    ):
        url = databases.server_url
        engine = build_engine(Settings(database_url=url))
        upgrade_database(engine)
        name = f"bench-{secrets.token_hex(3)}"
        password = create_operator(engine, name)
        engine.dispose()
        fill_seconds = _fill(url.replace("postgresql+psycopg://", "postgresql://"), tenants, rows)
        with (
            running_server(SERVE_COMMAND, url, Path(workdir)) as server,
            httpx.Client(base_url=server.base_url, timeout=120) as client,
        ):
            token = CSRF.search(client.get("/console/signin").text)
            assert token is not None
            fields = {"csrf": token.group(1), "kind": "operator", "name": name}
            signed = client.post("/console/signin", data={**fields, "password": password})
            if signed.status_code != 303:
                raise BenchError(f"sign-in failed: {signed.status_code}")
            middle = f"tenant-{tenants // 2:05d}"
            pages = {
                "tenants (first page)": "/console/tenants",
                "tenants (a middle page)": f"/console/tenants?after={middle}",
                "one tenant": f"/console/tenants/{middle}",
                "its push log": f"/console/tenants/{middle}/pushes",
                "its push log, refused": f"/console/tenants/{middle}/pushes?status=refused",
            }
            timings = {label: _timed(client, path, requests) for label, path in pages.items()}
    return {
        "tenants": tenants,
        "push_log_rows": rows,
        "requests": requests,
        "fill_seconds": round(fill_seconds, 1),
        "pages": timings,
        "machine": machine_info(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    try:
        result = run(args.tenants, args.rows, args.requests, args.postgres_url)
    except BenchError as error:
        print(f"console_overview: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"{result['tenants']} tenants, {result['push_log_rows']:,} push-log rows "
        f"(generated in {result['fill_seconds']} s); {args.requests} requests per page"
    )
    print("| page | median | slowest |\n|---|---|---|")
    for label, timing in result["pages"].items():  # type: ignore[attr-defined]
        print(f"| {label} | {timing['median_ms']} ms | {timing['max_ms']} ms |")


if __name__ == "__main__":
    main()
