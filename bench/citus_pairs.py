"""Pushes to a Citus cluster against pushes to plain PostgreSQL, taking turns.

    python bench/citus_pairs.py --citus-url postgresql://postgres@127.0.0.1:9700/postgres \
        --postgres-url postgresql://postgres@127.0.0.1:5432/postgres --runs 3

Two `pushapi serve` processes, one on a fresh distributed database of the cluster (made as the
test suite's Citus mode does) and one on a fresh plain database, get the same bodies of the
push_throughput scenarios (first load, changed re-push, unchanged re-push), one request each in
turn, who goes first alternating. Running both at the same time, instead of one benchmark after
the other, keeps the drift of a shared machine's speed out of the ratio: runs of
push_throughput a minute apart moved plain PostgreSQL's rate by up to a quarter
(docs/benchmark.md, "On Citus"). `--route off` starts the Citus server with
PUSHAPI_CITUS_ROUTE_PUSHES=off (every statement through the coordinator).
"""

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

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
from push_throughput import Pusher, Scenario, _contact_scenarios

# Citus / plain, the least each scenario should reach (the Citus issue's aims).
TARGETS = {"first load": 0.9, "changed re-push": 0.8, "unchanged re-push": 0.9}


def run_once(
    args: argparse.Namespace, scenarios: list[Scenario], workdir: Path
) -> dict[str, tuple[float, float]]:
    """Seconds per scenario: (Citus, plain), each the sum of its requests' times."""
    env = {"PUSHAPI_CITUS_ROUTE_PUSHES": args.route}
    with ExitStack() as stack:
        citus = stack.enter_context(fresh_databases("postgresql", workdir, args.citus_url, True))
        plain = stack.enter_context(fresh_databases("postgresql", workdir, args.postgres_url))
        servers = [
            stack.enter_context(running_server(SERVE_COMMAND, citus.server_url, workdir, env)),
            stack.enter_context(running_server(SERVE_COMMAND, plain.server_url, workdir)),
        ]
        keys = [create_tenant(citus.server_url), create_tenant(plain.server_url)]
        pushers = [Pusher(s.base_url, k) for s, k in zip(servers, keys, strict=True)]
        for pusher in pushers:
            stack.callback(pusher.close)
        seconds: dict[str, tuple[float, float]] = {}
        for scenario in scenarios:
            spent = [0.0, 0.0]
            for n, body in enumerate(scenario.bodies):
                for side in (0, 1) if n % 2 == 0 else (1, 0):
                    started = time.perf_counter()
                    counts, _, _ = pushers[side].push(scenario.endpoint, [body])
                    spent[side] += time.perf_counter() - started
                    if counts[scenario.expect] != counts["received"]:
                        raise BenchError(f"{scenario.title}: {counts}")
            seconds[scenario.title] = (spent[0], spent[1])
            rates = [scenario.records / s for s in spent]
            print(
                f"  {scenario.title}: Citus {rates[0]:,.0f}/s, plain {rates[1]:,.0f}/s, "
                f"{rates[0] / rates[1]:.2f}x",
                flush=True,
            )
        return seconds


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--citus-url", required=True, help="a coordinator with its workers")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL, help="plain PostgreSQL")
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workload", choices=("canonical", "shapes"), default="canonical")
    parser.add_argument("--route", choices=("on", "off"), default="on")
    args = parser.parse_args(argv)
    scenarios = _contact_scenarios(args, args.workload, lambda line: print(line, flush=True))
    results: list[dict[str, tuple[float, float]]] = []
    info = machine_info()
    with tempfile.TemporaryDirectory(prefix="pushapi-pairs-") as workdir:
        for run in range(args.runs):
            print(f"run {run + 1}/{args.runs}", flush=True)
            try:
                results.append(run_once(args, scenarios, Path(workdir)))
            except BenchError as error:
                print(f"error: {error}", file=sys.stderr)
                return 2
    print(
        f"\nCitus against plain PostgreSQL, requests taking turns: {args.contacts} contacts "
        f"({args.workload}) in batches of {args.batch}, route {args.route}, median of "
        f"{args.runs} run(s); {info['nproc']} CPUs, load average {info['load_average']}\n"
    )
    print("| scenario | Citus/s | plain/s | Citus / plain | runs | target |")
    print("|---|---|---|---|---|---|")
    for scenario in scenarios:
        ratios = [r[scenario.title][1] / r[scenario.title][0] for r in results]
        citus = statistics.median(scenario.records / r[scenario.title][0] for r in results)
        plain = statistics.median(scenario.records / r[scenario.title][1] for r in results)
        ratio = statistics.median(ratios)
        target = TARGETS[scenario.title.split(": ")[-1]]
        spread = f"{min(ratios):.2f}-{max(ratios):.2f}"
        verdict = "ok" if ratio >= target else "NO"
        print(
            f"| {scenario.title} | {citus:,.0f} | {plain:,.0f} | {ratio:.2f}x | {spread} "
            f"| >={target}x {verdict} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
