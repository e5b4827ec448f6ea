"""Run a snippet of the dashboard's own JavaScript (dashboard/src) under node, for the tests that
hold central's figures and texts equal to what the page shows."""

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

DASHBOARD_SRC = Path(__file__).resolve().parents[1] / "dashboard" / "src"


def run_dashboard_script(script: str, argument: object) -> Any:
    """The JSON `script` (an ES module) prints, run with the dashboard's source folder as
    `process.argv[1]` and `argument` as JSON in `process.argv[2]`; skips without node."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (scripts/test installs Debian's nodejs when root)")
    done = subprocess.run(
        [node, "--input-type=module", "-e", script, str(DASHBOARD_SRC), json.dumps(argument)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)
