"""`python -m bench [--quick] [--only GROUPS] [--out PATH] [--workdir DIR] [--reuse-data]`
(see scripts/bench)."""

import argparse
import logging
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from bench import sizes as presets
from bench.results import table
from bench.run import GROUPS, run

ROOT = Path(__file__).resolve().parent.parent


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/bench",
        description="Measure the pipeline (issue 5) and write bench/results.json.",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, under a minute")
    parser.add_argument(
        "--only",
        default=",".join(GROUPS),
        help=f"comma-separated figure groups (default all: {','.join(GROUPS)})",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results.json")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=ROOT / "var" / "bench",
        help="scratch (emptied first, but for figure 6's data with --reuse-data)",
    )
    parser.add_argument(
        "--reuse-data",
        action="store_true",
        help="keep figure 6's generated store in the workdir and reuse it when its stamp "
        "matches the sizes (else generate afresh and say why)",
    )
    parser.add_argument(
        "--no-references", action="store_true", help="skip VictoriaMetrics even if installed"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override one size of the preset (bench/sizes.py), e.g. --set kpi_sites=20",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    sizes = presets.quick() if args.quick else presets.full()
    if args.no_references:
        sizes = replace(sizes, references=False)
    try:
        sizes = presets.override(sizes, args.set)
    except ValueError as exc:
        parser.error(str(exc))
    groups = [g.strip() for g in args.only.split(",") if g.strip()]
    try:
        results, failures = run(sizes, args.workdir, groups, reuse_data=args.reuse_data)
    except ValueError as exc:
        parser.error(str(exc))
    results.write(args.out)
    print(table(results.figures, results.skipped))
    print(f"\nwritten to {args.out}")
    if failures:
        print("failed: " + "; ".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
