"""The README's curl session, run for real: `detente init --demo`, `detente serve`, curl and jq.

This keeps the README true: if the API changes under the session, this fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import httpx
from tests.cli.served import DETENTE, serving

ROOT = Path(__file__).resolve().parents[2]


def test_the_readme_session(tmp_path: Path) -> None:
    missing = [tool for tool in ("curl", "jq", "bash") if shutil.which(tool) is None]
    assert not missing, f"the README session needs {missing} (.ci/run installs them)"
    db = f"sqlite:///{tmp_path / 'demo.sqlite'}"
    init = subprocess.run([DETENTE, "init", "--db", db, "--demo"], capture_output=True, text=True, check=True)
    admin = init.stdout.strip()
    assert admin.startswith("dtk_")
    with serving(db) as base:
        assert httpx.get(f"{base}/docs").status_code == 200
        env = dict(os.environ, DETENTE=base, ADMIN=admin, DETENTE_CLI=DETENTE)
        session = subprocess.run(
            ["bash", str(ROOT / "scripts" / "curl-session.sh")], capture_output=True, text=True, env=env, timeout=60
        )
    assert session.returncode == 0, session.stderr
    lines = session.stdout.splitlines()
    assert '{"filed":true,"world_version":3,"conflicts":0}' in lines
    assert any('"type":"/problems/stale-world"' in line and '"other":"co-isr-1"' in line for line in lines)
    assert any('"filed":true,"world_version":4,"notified":["coalition"]' in line for line in lines)
    assert any(line.startswith('{"type":"conflict.disclosed","filing_party":"ru"') for line in lines)
    assert '{"status":404,"title":"Not found"}' in lines
    assert any('"type":"/problems/blocking-conflicts"' in line for line in lines)
    assert '{"filed":true,"overridden":true,"notified":["coalition"]}' in lines
    assert any('"severity":"blocking","override":"Pursuit of a convoy' in line for line in lines)
    assert '{"acked_by_coalition":true,"logged":{"type":"notification.acked","actor":"coalition"}}' in lines
    assert lines[-1] == "PROVEN"
