"""`scripts/demo --workdir` empties only a folder the demo made; it refuses anything else."""

import subprocess
import sys
from pathlib import Path

import pytest

from harness.demo import WORKDIR_MARKER, WorkdirError, prepare_workdir

ROOT = Path(__file__).resolve().parents[2]


def test_a_new_folder_is_made_and_marked(tmp_path: Path) -> None:
    workdir = tmp_path / "a" / "demo"
    prepare_workdir(workdir)
    assert [p.name for p in workdir.iterdir()] == [WORKDIR_MARKER]


def test_an_empty_folder_is_taken(tmp_path: Path) -> None:
    prepare_workdir(tmp_path)
    assert (tmp_path / WORKDIR_MARKER).is_file()


def test_a_folder_of_an_earlier_demo_is_emptied(tmp_path: Path) -> None:
    prepare_workdir(tmp_path / "demo")
    (tmp_path / "demo" / "logs").mkdir()
    (tmp_path / "demo" / "logs" / "central.log").write_text("old run")
    (tmp_path / "outside.txt").write_text("keep")
    (tmp_path / "demo" / "link").symlink_to(tmp_path / "outside.txt")
    prepare_workdir(tmp_path / "demo")
    assert [p.name for p in (tmp_path / "demo").iterdir()] == [WORKDIR_MARKER]
    assert (tmp_path / "outside.txt").read_text() == "keep"  # a symlink is removed, not followed


def test_a_folder_the_demo_did_not_make_is_refused_and_left_alone(tmp_path: Path) -> None:
    (tmp_path / "thesis.tex").write_text("years of work")
    with pytest.raises(WorkdirError, match="not empty and was not made by the demo"):
        prepare_workdir(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["thesis.tex"]


def test_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(WorkdirError, match="is not a folder"):
        prepare_workdir(tmp_path / "f")


def test_the_demo_refuses_the_current_folder_in_one_line_and_starts_nothing(
    tmp_path: Path,
) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    result = subprocess.run(
        [sys.executable, "-m", "harness.demo", "--workdir", "."],
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"demo: --workdir . is not empty and was not made by the demo (no {WORKDIR_MARKER} in "
        "it); give a new or empty folder"
    ]
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
