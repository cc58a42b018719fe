#!/usr/bin/env bash
# Fetch the recorded flights shipped with the PyPI package `traffic` (OpenSky Network data, research and
# non-commercial use, with attribution; see /work/shared/data/SOURCES.md) for the feed reader tests and
# bench/readers.py.
#
# traffic is never installed (it is heavy and pins its own dependencies): its wheel, pinned by version and
# hash, is downloaded with `pip download --no-deps` and only a few sample files are taken out of it.
#
#   bash scripts/fetch-traffic-samples.sh          # -> .cache/traffic/samples (or $DETENTE_TRAFFIC_DIR/samples)
#   bash scripts/fetch-traffic-samples.sh DIR      # -> DIR/samples
#
# Prints the samples directory. Idempotent: a complete samples directory is left alone, a downloaded wheel
# is not downloaded again. Needs python3 with pip (the project's .venv has it) and network access to PyPI.
set -euo pipefail

TRAFFIC_VERSION="2.13"
TRAFFIC_SHA256="5e0cd61d931d03103294361542188f08f959a55e862d5cba80ab61291021e66c"
# what is taken out of traffic/data/samples/ (a path, or a folder ending in /)
SAMPLES=(
  collections/quickstart.json.gz
  military/
  ambulances/
  surveillance/
  readsb/
)

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${1:-${DETENTE_TRAFFIC_DIR:-$here/.cache/traffic}}"
samples="$dest/samples"
stamp="$samples/.complete-traffic-$TRAFFIC_VERSION"

if [ -f "$stamp" ]; then
  echo "$samples"
  exit 0
fi

if [ -n "${DETENTE_TRAFFIC_PYTHON:-}" ]; then
  python="$DETENTE_TRAFFIC_PYTHON"
elif [ -x "$here/.venv/bin/python" ]; then
  python="$here/.venv/bin/python"
else
  python="python3"
fi

mkdir -p "$dest"
wheel="$dest/traffic-$TRAFFIC_VERSION-py3-none-any.whl"
if [ ! -f "$wheel" ] || ! echo "$TRAFFIC_SHA256  $wheel" | sha256sum --check --status; then
  rm -f "$wheel"
  req="$(mktemp)"
  trap 'rm -f "$req"' EXIT
  echo "traffic==$TRAFFIC_VERSION --hash=sha256:$TRAFFIC_SHA256" >"$req"
  "$python" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --require-hashes -r "$req" -d "$dest" >&2
fi

# extract into a fresh directory, then move it into place: a run cut short leaves no half directory
work="$(mktemp -d "$dest/.samples.XXXXXX")"
chmod 755 "$work"
"$python" - "$wheel" "$work" "${SAMPLES[@]}" <<'PY'
import sys
import zipfile
from pathlib import Path

wheel, out, wanted = sys.argv[1], Path(sys.argv[2]), sys.argv[3:]
prefix = "traffic/data/samples/"
taken = 0
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        name = info.filename
        if info.is_dir() or not name.startswith(prefix) or name.endswith(".py"):
            continue
        rel = name[len(prefix):]
        if not any(rel == w or (w.endswith("/") and rel.startswith(w)) for w in wanted):
            continue
        target = out / rel
        if ".." in Path(rel).parts:
            sys.exit(f"refusing {name}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(z.read(info))
        taken += 1
if taken == 0:
    sys.exit(f"no sample found in {wheel}")
PY
cat >"$work/ATTRIBUTION.md" <<EOF
Sample trajectories from the PyPI package traffic $TRAFFIC_VERSION (traffic/data/samples/, MIT licence for the
package), recorded by the OpenSky Network (https://opensky-network.org): research and non-commercial use,
with attribution.
EOF
touch "$work/.complete-traffic-$TRAFFIC_VERSION"
rm -rf "$samples.old"
if [ -e "$samples" ]; then
  mv "$samples" "$samples.old"
fi
if mv -T "$work" "$samples" 2>/dev/null; then
  rm -rf "$samples.old"
elif [ -f "$stamp" ]; then  # another run finished first
  rm -rf "$work" "$samples.old"
else
  echo "could not move the samples into $samples" >&2
  exit 1
fi
echo "$samples"
