#!/usr/bin/env bash
# A virtual environment of its own for taky, the TAK server the CoT-out tests publish to.
#
# taky is never installed into detente's .venv: its distribution installs a top-level `tests`
# package that shadows this project's `tests`. tests/integration/test_cot_publisher.py runs this
# script (so CI needs no step of its own, only python3 with pip and access to PyPI).
#
#   bash scripts/taky-venv.sh          # -> $DETENTE_TAKY_VENV, else .cache/taky-venv
#   bash scripts/taky-venv.sh DIR      # -> DIR
#
# Idempotent: a venv where the pinned taky imports is left alone; anything else there is rebuilt.
# The interpreter is $DETENTE_TAKY_PYTHON, else python3.
set -euo pipefail

TAKY_VERSION="0.10"   # the version the tests were written against (taky 0.10, PyPI, 2023)

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${1:-${DETENTE_TAKY_VENV:-$here/.cache/taky-venv}}"
python="${DETENTE_TAKY_PYTHON:-python3}"

ready() {
  [ -x "$venv/bin/python" ] && "$venv/bin/python" - "$TAKY_VERSION" <<'PY' >/dev/null 2>&1
import sys
from importlib.metadata import version

import taky.cot.server  # noqa: F401  (the CoT server and its dependencies import)

sys.exit(0 if version("taky") == sys.argv[1] else 1)
PY
}

mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
if command -v flock >/dev/null; then flock 9; fi   # one builder at a time (parallel test runs)

if ready; then
  echo "taky $TAKY_VERSION ready in $venv"
  exit 0
fi
echo "building a venv for taky $TAKY_VERSION in $venv"
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "taky==$TAKY_VERSION"
ready || { echo "taky $TAKY_VERSION does not import in $venv" >&2; exit 1; }
echo "taky $TAKY_VERSION ready in $venv"
