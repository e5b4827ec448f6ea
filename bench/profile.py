"""`python -m bench.profile FILE [--top N]`: the top entries of a py-spy profile (`--format raw`).

py-spy's raw format is one collapsed stack per line ("frame;frame;frame count"). This prints the
functions with the most samples on top of the stack (self) and anywhere on it (total), as
docs/performance.md quotes them. Record one with, for example:
    py-spy record --format raw --rate 200 --duration 20 --output edge.txt --pid <PID>
"""

import argparse
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path


def top_entries(text: str, top: int) -> tuple[int, list[tuple[str, int]], list[tuple[str, int]]]:
    """(samples, [(frame, self samples)], [(frame, total samples)]) of a raw py-spy profile."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        samples += count
        own[frames[-1]] += count
        for frame in set(frames):
            total[frame] += count
    return samples, own.most_common(top), total.most_common(top)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile")
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args(argv)
    samples, own, total = top_entries(args.profile.read_text(), args.top)
    if not samples:
        print(f"{args.profile}: no samples", file=sys.stderr)
        return 1
    for title, rows in (("self", own), ("total", total)):
        print(f"top {args.top} by {title} samples ({samples} samples):")
        for frame, count in rows:
            print(f"  {100 * count / samples:5.1f}%  {frame}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
