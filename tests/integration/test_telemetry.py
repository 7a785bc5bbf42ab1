"""MetricsLogger inside a Ray actor: the JSONL run log gets written, and Ray's Prometheus endpoint serves every
series the Grafana dashboard (cluster/grafana/orca-ray-dashboard.json) queries."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from pathlib import Path

import pytest

from orca_ray.core.metrics import COUNTER, HISTOGRAM, REGISTRY, stage_metrics
from orca_ray.distributed.telemetry import MetricsLogger, read_metrics

pytestmark = pytest.mark.slow

DASHBOARD = Path(__file__).resolve().parents[2] / "cluster" / "grafana" / "orca-ray-dashboard.json"
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def _dashboard_series() -> set[str]:
    exprs = []
    for panel in json.loads(DASHBOARD.read_text())["panels"]:
        exprs += [t["expr"] for t in panel.get("targets", [])]
    return {name for expr in exprs for name in re.findall(r"\bray_orca_ray_[a-z0-9_]+", expr)}


def _one_value_for_every_registered_metric() -> dict[str, float]:
    # Counters need a positive increment before Ray exports them; gauges and histograms any value.
    return {key: (1.0 if spec.kind in (COUNTER, HISTOGRAM) else 0.5) for key, spec in REGISTRY.items()}


@pytest.fixture(scope="module")
def metrics_url(ray_local) -> str:
    import ray

    node = ray._private.worker._global_node  # the driver's node: its metrics agent serves /metrics
    return f"http://{node.node_ip_address}:{node.metrics_export_port}/metrics"


def _log_from_actor(run_dir: str, run_id: str, metrics: dict) -> dict:
    import ray

    @ray.remote(num_cpus=0)  # never waits behind other tests' actors for a CPU
    class Reporter:
        def report(self, run_dir, run_id, metrics):
            logger = MetricsLogger(run_dir, run_id, source="sampler-0")
            logger.log(metrics, step=1)
            return logger.log(stage_metrics("sampler", rows=32, tokens=4000, seconds=2.0, in_flight=8), step=2)

    actor = Reporter.remote()
    try:
        return ray.get(actor.report.remote(run_dir, run_id, metrics), timeout=60)
    finally:
        ray.kill(actor)


def test_an_actor_logs_metrics_to_the_run_log(ray_local, tmp_path):
    record = _log_from_actor(str(tmp_path), "telemetry-test", _one_value_for_every_registered_metric())
    MetricsLogger(tmp_path, "telemetry-test").log({"loop/policy_version": 1.0}, step=3)

    assert record["sampler/tokens_per_s"] == 2000.0 and record["source"] == "sampler-0"
    records = read_metrics(tmp_path)
    assert [(r["source"], r["step"]) for r in records] == [("sampler-0", 1), ("sampler-0", 2), ("driver", 3)]
    assert (tmp_path / "metrics.sampler-0.jsonl").is_file() and (tmp_path / "metrics.jsonl").is_file()
    assert set(REGISTRY) <= set(records[0])


def test_prometheus_serves_every_series_the_dashboard_queries(ray_local, metrics_url, tmp_path):
    wanted = _dashboard_series()
    assert wanted, "the dashboard queries no orca-ray series"
    _log_from_actor(str(tmp_path), "telemetry-scrape", _one_value_for_every_registered_metric())

    deadline, missing = time.monotonic() + 45, wanted  # Ray exports every few seconds
    while missing and time.monotonic() < deadline:
        time.sleep(1)
        body = urllib.request.urlopen(metrics_url, timeout=10).read().decode()
        series = set(re.findall(r"^(ray_orca_ray_[a-z0-9_]+)\{[^}]*run_id=\"telemetry-scrape\"", body, re.M))
        missing = wanted - series
    assert missing == set(), f"the dashboard queries series Ray did not export: {sorted(missing)}"
    assert 'stage="sampler"' in body and 'label=""' in body
