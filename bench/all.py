"""Every benchmark of bench/, on both engines, in one command.

    python bench/all.py                 # what docs/benchmark.md reports
    python bench/all.py --engine sqlite --runs 3
    python bench/all.py --smoke         # everything once, tiny: checks that it all works

For each engine: push throughput with both workloads and the push at the body limit
(bench/push_throughput.py), small pushes against the floor app (bench/small_pushes.py) and
reading a whole tenant back (bench/listing.py), each with its floor measured in the same run.
Each script runs as its own process; their tables are printed one after the other, and with
--output DIR each one's JSON is written there too.
"""

import argparse
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
ENGINES = ("sqlite", "postgresql")


def commands(args: argparse.Namespace) -> list[tuple[str, list[str]]]:
    """(name, script and options) of every benchmark; main() adds the engine."""
    if args.smoke:
        return [
            ("push_throughput", ["push_throughput.py", "--smoke", "--workload", "both"]),
            ("small_pushes", ["small_pushes.py", "--requests", "5"]),
            ("listing", ["listing.py", "--smoke"]),
        ]
    runs = ["--runs", str(args.runs)]
    throughput = ["--contacts", str(args.contacts), "--batch", "1000", "--workload", "both"]
    return [
        ("push_throughput", ["push_throughput.py", *throughput, "--max-body", *runs]),
        ("small_pushes", ["small_pushes.py", "--requests", str(args.requests), *runs]),
        ("listing", ["listing.py", "--contacts", str(args.listing_contacts), *runs]),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=(*ENGINES, "both"), default="both")
    parser.add_argument("--runs", type=int, default=5, help="runs of each; medians are reported")
    parser.add_argument("--contacts", type=int, default=10_000, help="push throughput contacts")
    parser.add_argument("--requests", type=int, default=500, help="small pushes per scenario")
    parser.add_argument("--listing-contacts", type=int, default=100_000)
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--smoke", action="store_true", help="everything once, tiny")
    parser.add_argument("--output", type=Path, help="a directory for each benchmark's JSON")
    args = parser.parse_args(argv)
    engines = ENGINES if args.engine == "both" else (args.engine,)
    failed = []
    for engine in engines:
        for name, command in commands(args):
            argv_of = [sys.executable, str(HERE / command[0]), *command[1:], "--engine", engine]
            argv_of += ["--postgres-url", args.postgres_url]
            print(f"\n## {name}, {engine}\n", flush=True)
            if args.output is None:
                done = subprocess.run(argv_of, check=False)
            else:
                done = subprocess.run(
                    [*argv_of, "--json"], capture_output=True, text=True, check=False
                )
                sys.stderr.write(done.stderr)
                args.output.mkdir(parents=True, exist_ok=True)
                (args.output / f"{name}-{engine}.json").write_text(done.stdout)
                print(f"written to {args.output / f'{name}-{engine}.json'}", flush=True)
            if done.returncode != 0:
                failed.append(f"{name} on {engine}")
    if failed:
        print(f"all: failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
