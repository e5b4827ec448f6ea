# Sourced by scripts/test, scripts/demo, scripts/check and scripts/bench: makes a fresh machine ready.
# - Debian's mosquitto through apt-get when it is missing and we are root (else a note is printed);
#   on Debian 12 (bookworm), whose 2.0.11 overruns its in-flight window (fixed in 2.0.13), the
#   bookworm-backports one instead, and Debian's 2.0.11 unpacked into .cache/mosquitto-2.0.11 for
#   the test that runs the edge against it (tests/edge/test_broker_window.py);
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
    ensure_mosquitto_window_fix
    return 0
  fi
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: installing mosquitto with apt-get" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mosquitto >/dev/null
    # The Debian package enables a system broker on port 1883; ours run on free ports instead.
    if command -v systemctl >/dev/null 2>&1; then systemctl disable --now mosquitto >/dev/null 2>&1 || true; fi
    ensure_mosquitto_window_fix
  else
    echo "bootstrap: mosquitto is missing and apt-get is not usable here (need root)" >&2
    return 1
  fi
}

mosquitto_version() {
  # "mosquitto version 2.0.11" -> 2.0.11
  local bin
  bin="$(command -v mosquitto || echo /usr/sbin/mosquitto)"
  # `mosquitto -h` exits with 3: keep that from failing the pipeline (set -o pipefail).
  { "$bin" -h 2>&1 || true; } | sed -n 's/^mosquitto version \([0-9.]*\).*/\1/p' | head -n1
}

ensure_mosquitto_window_fix() {
  # Mosquitto before 2.0.13 releases far more than max_inflight_messages per PUBACK once a backlog
  # is queued. The edge copes (docs/faults.md), but a fixed broker is better: Debian 12 has
  # 2.0.21 in bookworm-backports. Never fatal: the edge works with 2.0.11 too.
  local version
  version="$(mosquitto_version)"
  [ -n "$version" ] || return 0
  dpkg --compare-versions "$version" ge 2.0.13 2>/dev/null && { ensure_mosquitto_2011_copy; return 0; }
  if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1 ||
    ! grep -q '^VERSION_CODENAME=bookworm$' /etc/os-release 2>/dev/null; then
    echo "bootstrap: note: mosquitto $version overruns its in-flight window (fixed in 2.0.13);" \
      "install 2.0.13 or newer where you can (docs/faults.md)" >&2
    return 0
  fi
  # Tried once per checkout (a machine without network would otherwise wait on apt every run).
  local stamp="$ROOT/.cache/mosquitto-backports-tried"
  if [ -e "$stamp" ]; then
    ensure_mosquitto_2011_copy
    return 0
  fi
  mkdir -p "$ROOT/.cache" && touch "$stamp"
  if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    echo "deb http://deb.debian.org/debian bookworm-backports main" \
      >/etc/apt/sources.list.d/bookworm-backports.list
  fi
  echo "bootstrap: installing mosquitto from bookworm-backports ($version has the window bug)" >&2
  if DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      -t bookworm-backports mosquitto >/dev/null; then
    if command -v systemctl >/dev/null 2>&1; then systemctl disable --now mosquitto >/dev/null 2>&1 || true; fi
  else
    echo "bootstrap: mosquitto from bookworm-backports could not be installed; keeping $version" >&2
  fi
  ensure_mosquitto_2011_copy
}

ensure_mosquitto_2011_copy() {
  # The edge must keep working with the 2.0.11 that Debian 12 users run: when the system broker
  # is another version, unpack Debian's 2.0.11 package (binary only) for the test that needs it.
  local dest="$ROOT/.cache/mosquitto-2.0.11"
  [ "$(mosquitto_version)" != "2.0.11" ] || return 0
  [ ! -x "$dest/usr/sbin/mosquitto" ] || return 0
  command -v apt-get >/dev/null 2>&1 || return 0
  local deb_version tmp
  deb_version="$(apt-cache madison mosquitto 2>/dev/null | awk '$3 ~ /^2\.0\.11/ {print $3; exit}')"
  if [ -z "$deb_version" ]; then
    echo "bootstrap: no Debian mosquitto 2.0.11 package found; tests/edge/test_broker_window.py will fail" >&2
    return 0
  fi
  tmp="$(mktemp -d)"
  if (cd "$tmp" && apt-get download -qq "mosquitto=$deb_version" >/dev/null 2>&1); then
    mkdir -p "$dest"
    dpkg-deb -x "$tmp"/mosquitto_*.deb "$dest"
  else
    echo "bootstrap: could not download mosquitto=$deb_version for tests/edge/test_broker_window.py" >&2
  fi
  rm -rf "$tmp"
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
