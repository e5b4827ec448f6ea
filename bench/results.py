"""Figures of a run: one record each, written as bench/results.json and printed as a table."""

import json
import math
import platform
import sqlite3
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

Comparison = Literal[">=", "<=", "<", ">"]


@dataclass(frozen=True, slots=True)
class Target:
    """`value <op> bound`, or with `of_reference`, `value / reference <op> bound`."""

    op: Comparison
    bound: float
    of_reference: bool = False

    def text(self, unit: str) -> str:
        return (
            f"{self.op} {self.bound:g} x reference"
            if self.of_reference
            else (f"{self.op} {self.bound:g} {unit}")
        )

    def met(self, value: float, ratio: float | None) -> bool | None:
        subject = ratio if self.of_reference else value
        if subject is None or not math.isfinite(subject):
            return None
        return {
            ">=": subject >= self.bound,
            "<=": subject <= self.bound,
            "<": subject < self.bound,
            ">": subject > self.bound,
        }[self.op]


@dataclass(frozen=True, slots=True)
class Figure:
    """One measured number; `reference` is measured in the same run, never remembered."""

    figure: str  # issue 5's numbering: "1", "2", "6a" ...
    name: str
    value: float
    unit: str
    reference: float | None = None
    reference_name: str | None = None
    target: Target | None = None
    notes: str = ""

    @property
    def ratio(self) -> float | None:
        if self.reference is None or self.reference == 0:
            return None
        return self.value / self.reference

    @property
    def target_met(self) -> bool | None:
        return None if self.target is None else self.target.met(self.value, self.ratio)

    def as_dict(self) -> dict[str, Any]:
        return {
            "figure": self.figure,
            "name": self.name,
            "value": self.value,
            "unit": self.unit,
            "reference": self.reference,
            "reference_name": self.reference_name,
            "ratio": self.ratio,
            "target": None if self.target is None else self.target.text(self.unit),
            "target_met": self.target_met,
            "notes": self.notes,
        }


@dataclass(frozen=True, slots=True)
class Skipped:
    """A figure or reference that could not be measured here, with the reason."""

    figure: str
    name: str
    reason: str


@dataclass(slots=True)
class Results:
    sizes: dict[str, Any]
    figures: list[Figure] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    started: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def add(self, *figures: Figure) -> None:
        self.figures.extend(figures)

    def skip(self, figure: str, name: str, reason: str) -> None:
        self.skipped.append(Skipped(figure, name, reason))
        print(f"bench: skipped {figure} {name}: {reason}", file=sys.stderr)

    def as_dict(self) -> dict[str, Any]:
        return {
            "started": self.started,
            "machine": machine(),
            "sizes": self.sizes,
            "figures": [f.as_dict() for f in self.figures],
            "skipped": [asdict(s) for s in self.skipped],
        }

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.as_dict(), indent=2, allow_nan=False) + "\n")


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    import os

    return {
        "cpu": model or platform.processor(),
        "cpus": os.cpu_count(),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
    }


def _number(value: float | None) -> str:
    if value is None:
        return ""
    if value == 0 or 0.01 <= abs(value) < 1e7:
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    return f"{value:.3g}"


def table(figures: Sequence[Figure], skipped: Sequence[Skipped] = ()) -> str:
    """The figures as a fixed-width text table (what `scripts/bench` prints)."""
    header = ("fig", "name", "value", "unit", "reference", "ratio", "target", "met")
    rows = [header]
    for f in figures:
        met = {None: "", True: "yes", False: "NO"}[f.target_met]
        rows.append(
            (
                f.figure,
                f.name,
                _number(f.value),
                f.unit,
                "" if f.reference is None else f"{_number(f.reference)} ({f.reference_name})",
                "" if f.ratio is None else f"{f.ratio:.2f}",
                "" if f.target is None else f.target.text(f.unit),
                met,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.extend(f"skipped {s.figure} {s.name}: {s.reason}" for s in skipped)
    return "\n".join(lines)
