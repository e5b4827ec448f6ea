# Sourced by scripts/test, scripts/demo, scripts/check and scripts/bench: makes a fresh machine ready.
# - Debian's mosquitto through apt-get when it is missing and we are root (else a note is printed);
# - Debian's victoria-metrics the same way (the InfluxDB v2 write API the store tests write to);
# - Debian's chromium and chromium-driver (the dashboard's browser test) the same way;
# - Debian's nodejs (the dashboard's JS unit tests) the same way, when no node is installed;
# - a virtual environment in .venv with the project and its dev tools, reinstalled when
#   pyproject.toml changes.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${CANTEEN_VENV:-$ROOT/.venv}"
PYTHON_BIN="${PYTHON:-python3}"

ensure_mosquitto() {
  if command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ]; then
    return 0
  fi
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: installing mosquitto with apt-get" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mosquitto >/dev/null
    # The Debian package enables a system broker on port 1883; ours run on free ports instead.
    if command -v systemctl >/dev/null 2>&1; then systemctl disable --now mosquitto >/dev/null 2>&1 || true; fi
  else
    echo "bootstrap: mosquitto is missing and apt-get is not usable here (need root)" >&2
    return 1
  fi
}

ensure_victoria_metrics() {
  if command -v victoria-metrics >/dev/null 2>&1; then
    return 0
  fi
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: installing victoria-metrics with apt-get" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends victoria-metrics >/dev/null
    # The package may enable a system service on port 8428; the tests start their own on free ports.
    if command -v systemctl >/dev/null 2>&1; then systemctl disable --now victoria-metrics >/dev/null 2>&1 || true; fi
  else
    # Not fatal: the write-path tests skip with this reason.
    echo "bootstrap: victoria-metrics is missing and apt-get is not usable here (need root)" >&2
  fi
}

ensure_chromium() {
  # Optional: without a browser, tests/e2e/test_dashboard.py skips with the reason.
  if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    return 0
  fi
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: installing chromium and chromium-driver with apt-get" >&2
    if ! { DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        chromium chromium-driver fonts-noto-cjk >/dev/null; }; then
      echo "bootstrap: chromium could not be installed; the browser test will skip" >&2
    fi
  else
    echo "bootstrap: chromium is missing and apt-get is not usable here (need root);" \
      "the browser test will skip" >&2
  fi
  return 0
}

ensure_node() {
  # Optional: without node, tests/central/test_dashboard_js.py skips with the reason. The tests
  # use only Node's built-in runner (node --test, Node >= 18: Debian 12 ships 18.19).
  if command -v node >/dev/null 2>&1; then
    return 0
  fi
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: installing nodejs with apt-get" >&2
    if ! { DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs >/dev/null; }; then
      echo "bootstrap: nodejs could not be installed; the dashboard's JS unit tests will skip" >&2
    fi
  else
    echo "bootstrap: node is missing and apt-get is not usable here (need root);" \
      "the dashboard's JS unit tests will skip" >&2
  fi
  return 0
}

ensure_venv() {
  if [ ! -x "$VENV/bin/python" ]; then
    echo "bootstrap: creating $VENV" >&2
    "$PYTHON_BIN" -m venv "$VENV"
  fi
  local stamp="$VENV/.canteen-installed"
  local want
  want="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "bootstrap: installing Python packages into $VENV" >&2
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null 2>&1 || true
    # pip's and setuptools' notices go to a log; it is shown only when the install fails.
    local log="$VENV/pip-install.log"
    if ! "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e "$ROOT[dev,influx]" >"$log" 2>&1; then
      cat "$log" >&2
      return 1
    fi
    echo "$want" >"$stamp"
  fi
  export PATH="$VENV/bin:$PATH"
}
