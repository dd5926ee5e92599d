"""The floor app for small pushes: the least a correct HTTP server must do per push request.

    python bench/floor_app.py --port 8001 --database-url sqlite:////tmp/floor.db

One Starlette route, served by uvicorn with one worker like `pushapi serve`: it reads the
`ApiKey` header and finds its tenant with one indexed query (a SHA-256 of the key, as the
server keeps it), reads the body exactly (decimals, SPEC 3.1), and stores the records in one
durable transaction with the floor's set-based statements (bench/floor.py: upsert the contacts,
replace their child rows), then answers with the count. No validation, no recognition, no push
log, no metrics: what is left is HTTP, the key, parsing and the database. `/healthz` answers
200 once it listens. The key is `FLOOR_API_KEY` (default "floor-key").
"""

import argparse
import hashlib
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

sys.path.insert(0, str(Path(__file__).resolve().parent))

from floor import PostgresFloor, Rows, SqliteFloor, load_json

DEFAULT_KEY = "floor-key"


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def build(database_url: str, api_key: str) -> Starlette:
    """The app on a fresh floor database at `database_url` (sqlite:///path or postgresql://)."""
    floor: Any
    if database_url.startswith("sqlite:///"):
        floor = SqliteFloor(database_url.removeprefix("sqlite:///"))
        mark = "?"
    else:
        floor = PostgresFloor(database_url)
        floor.conn.autocommit = True  # each push's transaction() is then a real BEGIN/COMMIT
        mark = "%s"
    with floor.transaction():
        floor.conn.execute(
            "CREATE TABLE IF NOT EXISTS floor_keys (key_hash VARCHAR(64) PRIMARY KEY, "
            "tenant_id INTEGER NOT NULL)"
        )
        floor.conn.execute(
            f"INSERT INTO floor_keys VALUES ({mark}, 1) ON CONFLICT DO NOTHING",
            (_digest(api_key),),
        )
    find_key = f"SELECT tenant_id FROM floor_keys WHERE key_hash = {mark}"

    async def push(request: Request) -> Response:
        key = request.headers.get("apikey", "")
        if floor.conn.execute(find_key, (_digest(key),)).fetchone() is None:
            return Response(b'{"error":"unauthorized"}', 401, media_type="application/json")
        records = load_json(await request.body())
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        with floor.transaction():
            floor.store(Rows(records, now), repush=True)
        answer = {"received": len(records)}
        return Response(orjson.dumps(answer), media_type="application/json")

    async def healthz(_request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    return Starlette(
        routes=[
            Route("/v2/contactinfo", push, methods=["POST"]),
            Route("/healthz", healthz),
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", required=True)
    args = parser.parse_args(argv)
    app = build(args.database_url, os.environ.get("FLOOR_API_KEY", DEFAULT_KEY))
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
