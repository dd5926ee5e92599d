"""CPU time of the push's steps before the database, in-process and without a profiler.

    python bench/stage_timings.py --contacts 3000 --batch 1000 [--workload shapes]

A sampling profiler inflates code that makes many small calls (validation most of all); this
times the same steps with `time.process_time` alone, per 1,000 contacts, to check the profile's
shares and to see a change to one step at once. It calls pushapi's internals, so it follows them.
"""

import argparse
import gc
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import orjson

from pushapi.push.read import split_body
from pushapi.schema.compiled import CompiledReader
from pushapi.schema.contact import CONTACT_INFO
from pushapi.schema.fields import Report, forget_datetimes, parse_object
from pushapi.schema.warnings import contact_warnings
from pushapi.store.contacts import prepare_contact, raw_seed
from pushapi.store.documents import load_json, raw_digests
from pushapi.tenants import DEFAULT_COMMUNITY_GROUP_TYPES, Tenant

sys.path.insert(0, str(Path(__file__).resolve().parent))

from floor import Rows
from floor import load_json as floor_load_json
from workload import WORKLOADS, workload_bodies


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--workload", choices=WORKLOADS, default="canonical")
    args = parser.parse_args(argv)
    bodies = workload_bodies(args.workload, args.contacts, args.batch)
    tenant = Tenant(
        1, "bench", "community", "us", frozenset(DEFAULT_COMMUNITY_GROUP_TYPES), datetime.now(UTC)
    )
    spent: dict[str, float] = {}

    def timed(step: str, started: float) -> float:
        now = time.process_time()
        spent[step] = spent.get(step, 0.0) + now - started
        return now

    reader = CompiledReader(CONTACT_INFO)
    seed = raw_seed(tenant)  # (reads pushapi's source once, as `pushapi serve` does at start)
    gc.collect()
    gc.freeze()  # as `pushapi serve` does after startup
    for body in bodies:
        forget_datetimes()
        started = time.process_time()
        raws = split_body(body, len(body)).raws
        assert raws is not None
        started = timed("server: split_body (msgspec, records as bytes)", started)
        raw_digests(raws, seed)
        started = timed("server: raw_digests (recognition; its lookup is SQL)", started)
        report = Report()
        records = [reader.read(raw) for raw in raws]
        started = timed("server: compiled reader (validation)", started)
        valid = [record for record in records if record is not None]
        assert len(valid) == len(raws), "the compiled reader declined records"
        for index, record in enumerate(valid):
            contact_warnings(record, index, tenant.platform, report)
        started = timed("server: contact_warnings (e-mails, memberships)", started)
        _pushed = [prepare_contact(record, i, False) for i, record in enumerate(valid)]
        started = timed("server: prepare_contact (normalise, dump, hash)", started)
        forget_datetimes()  # each reader meets each DateTime for the first time
        started = time.process_time()
        again = [parse_object(CONTACT_INFO, load_json(bytes(raw)), 0, "", Report()) for raw in raws]
        started = timed("reference: json.loads + parse_object (the general path)", started)
        del again
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
