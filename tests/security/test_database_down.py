"""With the database down every meshui command says so in one line and exits 2.

Exit 1 keeps its documented meanings (`posture`: findings at or above --fail-on; `report`:
no snapshot by that date; a sync that failed for the cluster's reasons) and is never used
for an error of meshui's own surroundings. `posture --manifests` needs no database at all.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATABASE_DOWN = {
    "DATABASE_URL": "postgres://postgres@127.0.0.1:1/none",  # nothing listens on port 1
    "REDIS_URL": "",
}


def manage(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, **DATABASE_DOWN, **(env or {})},
        timeout=120,
    )


@pytest.mark.parametrize(
    "args",
    [
        ("report",),
        ("report", "--at", "2026-11-01", "--format", "csv"),
        ("sync_cluster", "--once"),
        ("createuser", "kim", "--role", "admin"),
        ("serve", "--no-runserver"),
    ],
    ids=" ".join,
)
def test_a_command_needing_the_database_says_it_is_unreachable_and_exits_2(args, tmp_path):
    result = manage(*args, env={"MESHUI_KUBECONFIG": str(tmp_path / "kubeconfig")})
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert "database is unreachable" in line
    assert "127.0.0.1" in line and "port 1" in line


def test_posture_from_manifests_needs_no_database(tmp_path):
    (tmp_path / "ns.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n")
    result = manage("posture", "--manifests", str(tmp_path), "--format", "json")
    assert result.returncode == 0, result.stderr
    assert '"name": "shop"' in result.stdout


@pytest.mark.parametrize("at", ["0001-01-01T00:00+23:59", "9999-12-31T23:59-23:59"])
def test_report_refuses_a_moment_at_the_end_of_the_calendar_with_exit_2(at):
    result = manage("report", "--at", at)
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert "--at" in result.stderr
