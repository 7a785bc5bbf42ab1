"""ruff stays clean (issue: "ruff configured and clean"): the same check as `make lint`, so CI enforces it."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PATHS = ["orca_ray", "jobs", "tests", "bench"]


@pytest.mark.skipif(importlib.util.find_spec("ruff") is None, reason="ruff is a dev extra (pip install -e '.[dev]')")
@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["check", "format"])
def test_ruff_is_clean(command):
    result = subprocess.run(
        [sys.executable, "-m", "ruff", *command, *PATHS], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_test_modules_have_unique_basenames():
    # pytest's default import mode puts each test directory on sys.path, so two test_x.py in different folders stop
    # the whole collection with "import file mismatch" (it did, in CI, when tracking tests were added in both).
    seen: dict[str, list[str]] = {}
    for path in sorted((REPO / "tests").rglob("test_*.py")):
        seen.setdefault(path.name, []).append(str(path.relative_to(REPO)))
    assert {name: paths for name, paths in seen.items() if len(paths) > 1} == {}
