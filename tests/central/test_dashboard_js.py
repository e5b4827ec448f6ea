"""The dashboard's own unit tests (dashboard/test/*.test.mjs: period arithmetic, CSV quoting,
number formats, both languages' labels), run with Node's built-in test runner."""

import shutil
import subprocess
from pathlib import Path

import pytest

DASHBOARD = Path(__file__).resolve().parents[2] / "dashboard"


def test_dashboard_js_unit_tests_pass() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (scripts/test installs Debian's nodejs when root)")
    done = subprocess.run(
        [node, "--test", "--test-reporter=tap", "test/"],
        cwd=DASHBOARD,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "# fail 0" in done.stdout
    assert "# pass 0" not in done.stdout, "no JS test ran"


def test_every_holiday_name_of_the_calendar_package_has_a_chinese_label() -> None:
    """The forecast panel shows holiday names; the package gives them in English, so each needs
    its label in the zh section of dashboard/src/i18n.js (a new release may add one)."""
    from chinese_calendar.constants import Holiday

    labels = (DASHBOARD / "src" / "i18n.js").read_text(encoding="utf-8")
    zh = labels[labels.index("  zh: {") :]
    missing = [h.value for h in Holiday if f'"holiday_{h.value}":' not in zh]
    assert not missing, f"add zh labels holiday_* to dashboard/src/i18n.js for {missing}"
