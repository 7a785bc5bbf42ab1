"""Where users run it: a Ray head started with `ray start --head` (token auth on), the tiny pipeline submitted with
`ray job submit --working-dir . --runtime-env cluster/runtime_env.yaml`, polled to SUCCEEDED, its artifacts checked,
and only that head stopped.

The head gets its own temp dir, ports and token, so it neither sees nor stops any other Ray on the machine (a
developer's, or the session Ray of the other integration tests)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
JOB_TIMEOUT_S = 900


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _ray(env: dict, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([str(BIN / "ray"), *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"ray {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


@pytest.fixture
def ray_head(kill_ray_under):
    """A head of our own: temp dir short enough for Unix socket paths, free ports, a fresh token, 127.0.0.1."""
    temp_dir = tempfile.mkdtemp(prefix="orj-", dir="/tmp")
    gcs, dashboard, client, metrics_export, dashboard_agent, runtime_env_agent = _free_ports(6)
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": secrets.token_hex(32),
        "RAY_USAGE_STATS_ENABLED": "0",
    }
    for key in ("RAY_ADDRESS", "RAY_TMPDIR"):
        env.pop(key, None)
    _ray(
        env,
        "start",
        "--head",
        f"--port={gcs}",
        f"--dashboard-port={dashboard}",
        "--dashboard-host=127.0.0.1",
        f"--ray-client-server-port={client}",
        f"--metrics-export-port={metrics_export}",
        f"--dashboard-agent-listen-port={dashboard_agent}",
        f"--runtime-env-agent-port={runtime_env_agent}",
        "--node-ip-address=127.0.0.1",
        "--num-cpus=8",
        "--include-dashboard=true",
        f"--temp-dir={temp_dir}",
        "--disable-usage-stats",
        timeout=180,
    )
    address = f"http://127.0.0.1:{dashboard}"
    try:
        yield env, address, temp_dir
    finally:
        # `ray stop` would stop every Ray on the machine; this head is found by its own temp dir instead.
        kill_ray_under(temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_tiny_pipeline_through_ray_job_submit(ray_head, tmp_path):
    env, address, _ = ray_head
    out = tmp_path / "runs"
    submitted = _ray(
        env,
        "job",
        "submit",
        f"--address={address}",
        "--no-wait",
        "--submission-id=orca-ray-tiny",
        "--working-dir",
        ".",
        "--runtime-env",
        "cluster/runtime_env.yaml",
        "--",
        "python",
        "jobs/pipeline.py",
        "--config",
        "jobs/configs/tiny.yaml",
        "--set",
        f"output_dir={out}",
        # The submission is under test here, not the stages (tests/integration/test_pipeline.py runs them all):
        # no SFT, and one evaluation at the end.
        "--set",
        "training.sft.enabled=false",
        "--set",
        "eval.after_every_stage=false",
        "--run-id",
        "job-tiny",
        timeout=300,
    )
    assert "orca-ray-tiny" in submitted.stdout + submitted.stderr

    # Without the token the job server refuses: token auth is really on.
    no_token = {k: v for k, v in env.items() if k not in ("RAY_AUTH_TOKEN", "RAY_AUTH_MODE")}
    refused = _ray(no_token, "job", "status", f"--address={address}", "orca-ray-tiny", check=False)
    assert refused.returncode != 0

    deadline = time.monotonic() + JOB_TIMEOUT_S
    status = ""
    while time.monotonic() < deadline:
        # `ray job status` ends with "Job 'orca-ray-tiny' succeeded" (or failed / was stopped).
        status = _ray(env, "job", "status", f"--address={address}", "orca-ray-tiny").stdout.lower()
        if any(word in status for word in ("succeeded", "failed", "stopped")):
            break
        time.sleep(5)
    logs = _ray(env, "job", "logs", f"--address={address}", "orca-ray-tiny", check=False).stdout
    assert "succeeded" in status, f"job ended as:\n{status}\nlast log lines:\n{logs[-6000:]}"

    root = out / "job-tiny"
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["order"] == ["problems", "iter-1", "eval:iter-1"]
    report = json.loads((root / "report.json").read_text())
    assert set(report["accuracy"]) == {"iter-1"}
    assert (root / "iter-1" / "train" / "adapter" / "adapter_config.json").is_file()
    assert (root / "report.html").is_file() and (root / "accuracy.png").stat().st_size > 1000
    # The driver's report reached the job log (what `ray job logs --follow` shows a user), and the log is the run's
    # story: one line per step, the table, no Ray, vLLM or Ray Data output (that is in the run's logs/ folder).
    assert "heldout" in logs
    assert "iter-1 done in" in logs and "(pid=" not in logs and len(logs.splitlines()) <= 40, logs[-6000:]
    assert {"engine.log", "data.log", "learner.log"} <= {p.name for p in (root / "logs").glob("*.log")}
