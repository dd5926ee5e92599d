"""CPU time of the push's steps before the database, in-process and without a profiler.

    python bench/stage_timings.py --contacts 3000 --batch 1000

A sampling profiler inflates code that makes many small calls (validation most of all); this
times the same steps with `time.process_time` alone, per 1,000 contacts, to check the profile's
shares and to see a change to one step at once. It calls pushapi's internals, so it follows them.
"""

import argparse
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import orjson

from pushapi.schema.contact import CONTACT_INFO
from pushapi.schema.fields import Report, parse_object
from pushapi.store.contacts import prepare_contact
from pushapi.store.documents import load_json
from pushapi.tenants import DEFAULT_COMMUNITY_GROUP_TYPES, Tenant

sys.path.insert(0, str(Path(__file__).resolve().parent))

from floor import Rows
from floor import load_json as floor_load_json
from workload import batch_bodies


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args(argv)
    bodies = batch_bodies(args.contacts, args.batch)
    tenant = Tenant(
        1, "bench", "community", "us", frozenset(DEFAULT_COMMUNITY_GROUP_TYPES), datetime.now(UTC)
    )
    spent: dict[str, float] = {}

    def timed(step: str, started: float) -> float:
        now = time.process_time()
        spent[step] = spent.get(step, 0.0) + now - started
        return now

    for body in bodies:
        started = time.process_time()
        raw = load_json(body)
        started = timed("server: load_json (json.loads, Decimal)", started)
        report = Report()
        parsed = [parse_object(CONTACT_INFO, r, i, "", report) for i, r in enumerate(raw)]
        started = timed("server: parse_object (validation)", started)
        valid = [record for record in parsed if record is not None]
        _pushed = [prepare_contact(record, i, tenant, report) for i, record in enumerate(valid)]
        started = timed("server: prepare_contact (normalise, dump, hash)", started)
        Rows(floor_load_json(body), "2026-01-01T00:00:00.000Z")
        started = timed("floor: json.loads + rows (no database)", started)
        orjson.loads(body)
        timed("reference: orjson.loads (floats, not exact)", started)
    per_thousand = 1000 / args.contacts
    for step, seconds in spent.items():
        print(f"{seconds * per_thousand * 1000:8.1f} ms CPU per 1,000 contacts  {step}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
