"""The benchmarks of bench/ run end to end in their smoke modes: a real server, real HTTP pushes
and reads, the floors on the same data, and counts that add up. No timing is asserted."""

import json
import subprocess
import sys
from pathlib import Path

from conftest import CITUS_URL, POSTGRES_ADMIN_URL

BENCH = Path(__file__).resolve().parent.parent / "bench" / "push_throughput.py"
SMOKE_CONTACTS, SMOKE_LIST_IDS = 200, 500


def _run_smoke(engine: str) -> dict:
    # Citus mode: the server's database distributed on the cluster (--citus).
    citus = ["--citus"] if CITUS_URL and engine == "postgresql" else []
    done = subprocess.run(
        [sys.executable, str(BENCH), "--smoke", "--json", "--engine", engine, *citus,
         "--workload", "both", "--postgres-url", CITUS_URL if citus else POSTGRES_ADMIN_URL],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_bench_smoke_mode_pushes_every_scenario_and_measures_the_floor(engine_name):
    report = _run_smoke(engine_name)
    assert (report["engine"], report["contacts"], report["batch"], report["runs"]) == (
        "citus" if CITUS_URL and engine_name == "postgresql" else engine_name,
        SMOKE_CONTACTS,
        100,
        1,
    )
    assert report["machine"]["nproc"] >= 1 and report["machine"]["cpu_model"]
    scenarios = {s["name"]: s for s in report["scenarios"]}
    expected_counts = {
        f"{workload}{name}": outcome
        for workload in ("", "shapes_")  # the canonical workload, then the other value shapes
        for name, outcome in (
            ("first_load", "created"),
            ("changed_repush", "updated"),
            ("unchanged_repush", "unchanged"),
        )
    }
    for name, outcome in expected_counts.items():
        measured = scenarios[name]
        counts = measured["server"]["counts"]
        assert counts["received"] == counts[outcome] == SMOKE_CONTACTS, (name, counts)
        assert measured["requests"] == 2 and measured["server"]["warnings"] == 0
        assert measured["server"]["per_second"] > 0 and measured["floor"]["per_second"] > 0
        assert measured["ratio_to_floor"] > 0 and measured["target_ratio"] > 0
        assert 20 < measured["server"]["median_peak_rss_mib"] < 4096
    listed = scenarios["list_add"]
    if "skipped" in listed:
        assert listed["skipped"] == "skipped: endpoint not available"
    else:
        assert listed["records"] == SMOKE_LIST_IDS
        assert listed["server"]["counts"]["received"] == 1
        assert listed["floor"]["per_second"] > 0


def test_small_pushes_bench_runs_every_scenario_against_its_floor_app(engine_name):
    """bench/small_pushes.py: pushapi and bench/floor_app.py each answer every request 200,
    taking turns (the last turn shorter than the others)."""
    script = BENCH.parent / "small_pushes.py"
    done = subprocess.run(
        [sys.executable, str(script), "--requests", "3", "--interleave", "2", "--json",
         "--engine", engine_name,
         "--postgres-url", POSTGRES_ADMIN_URL],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["engine"] == engine_name
    assert report["interleave"] == 2
    assert [s["name"] for s in report["scenarios"]] == [
        "1 record per request, new",
        "1 record per request, changed",
        "10 records per request, new",
    ]
    for scenario in report["scenarios"]:
        for side in ("server", "floor"):
            assert scenario[side]["per_second"] > 0
            assert 0 < scenario[side]["p50_ms"] <= scenario[side]["p99_ms"]
        assert scenario["ratio"] > 0


def test_listing_bench_reads_every_contact_back_and_measures_its_floor(engine_name):
    """bench/listing.py: every loaded contact comes back once through GET /v2/contacts paging,
    and the floor reads as many from the database."""
    script = BENCH.parent / "listing.py"
    done = subprocess.run(
        [sys.executable, str(script), "--smoke", "--json", "--engine", engine_name,
         "--postgres-url", POSTGRES_ADMIN_URL],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["engine"], report["contacts"], report["limit"]) == (engine_name, 300, 100)
    assert report["pages"] == 3
    assert report["server"]["per_second"] > 0 and report["floor"]["per_second"] > 0
    assert report["ratio"] > 0
