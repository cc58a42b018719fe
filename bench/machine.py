"""What every benchmark records of the machine it ran on: the CPU, the Python, the commit.

Each script adds the versions of what it measures (``{**machine.base(), "numpy": ...}``).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown"


def git_head() -> str:
    """The short commit, marked when ``src`` has uncommitted changes (the figures are then of those)."""
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "src"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        return ""
    return head + ("+uncommitted src" if dirty else "")


def base() -> dict[str, Any]:
    """CPU count and model, Python, the load before the run, and the commit."""
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model(),
        "python": platform.python_version(),
        "loadavg_before": [round(x, 2) for x in os.getloadavg()],
        "git_head": git_head(),
    }


def save_results(name: str, meta: dict[str, Any], args: Any, results: dict[str, Any], out: Path | None = None) -> Path:
    """Write a run's machine, arguments and results as JSON (``bench/results/<name>-<UTC time>.json``)."""
    from datetime import UTC, datetime

    path = out or ROOT / "bench" / "results" / f"{name}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"machine": meta, "args": {k: str(v) for k, v in vars(args).items()}, **results}
    path.write_text(json.dumps(body, indent=1, default=str))
    return path
