"""One logger for the pipeline's flat `stage/name` metrics: a JSONL run log, a readable INFO line, and, when Ray is
initialized, Ray's metrics (Prometheus, the Ray dashboard, cluster/grafana/orca-ray-dashboard.json).

    logger = MetricsLogger(run_dir, run_id)               # the driver writes <run_dir>/metrics.jsonl
    logger.log(stage_metrics("sampler", rows, tokens, seconds, in_flight), step=batch)
    logger.span("sampler", started, label="shard-00003", rows=rows, tokens=tokens)   # the report's timeline
    MetricsLogger(run_dir, run_id, source="sampler-0")     # in an actor: <run_dir>/metrics.sampler-0.jsonl
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from orca_ray.core.metrics import COUNTER, GAUGE, REGISTRY, MetricSpec, finite_or_none, format_line, spec_for

log = logging.getLogger(__name__)

DRIVER_SOURCE = "driver"
# Tag keys every exported series carries: the run, the stage (from the key) and a free label (an evaluation set's
# name, an engine's index). Ray requires tag keys at creation, so the set is fixed.
TAG_KEYS = ("run_id", "stage", "label")
_SOURCE = re.compile(r"^[A-Za-z0-9_.-]+$")

# One Ray metric object per name and process: Ray registers a name once per worker, and actors may hold several
# loggers.
_ray_metrics: dict[str, object] = {}
_ray_metrics_lock = threading.Lock()


def metrics_file(run_dir: str | os.PathLike, source: str = DRIVER_SOURCE) -> Path:
    """The driver writes metrics.jsonl; every other process its own metrics.<source>.jsonl, because appends from
    several nodes to one file on a network filesystem (NFS, EFS, Filestore) can interleave."""
    if not _SOURCE.match(source):
        raise ValueError(f"metrics source {source!r} may hold only letters, digits, '.', '_' and '-'")
    name = "metrics.jsonl" if source == DRIVER_SOURCE else f"metrics.{source}.jsonl"
    return Path(run_dir) / name


def read_metrics(run_dir: str | os.PathLike) -> list[dict]:
    """Every record of a run, from the driver's file and every actor's, oldest first."""
    records = []
    for path in sorted(Path(run_dir).glob("metrics*.jsonl")):
        with open(path, encoding="utf-8") as f:
            records += [json.loads(line) for line in f if line.strip()]
    return sorted(records, key=lambda r: r["ts"])


def ray_is_initialized() -> bool:
    """True inside a Ray worker or a driver that called ray.init; never imports ray itself (a second of start-up
    for code that does not use it)."""
    ray = sys.modules.get("ray")
    return bool(ray is not None and ray.is_initialized())


def _ray_metric(spec: MetricSpec):
    with _ray_metrics_lock:
        metric = _ray_metrics.get(spec.key)
        if metric is None:
            from ray.util import metrics as ray_metrics

            name, help_text = (
                spec.prometheus_name,
                f"{spec.description} [{spec.unit}]" if spec.unit else spec.description,
            )
            if spec.kind == COUNTER:
                metric = ray_metrics.Counter(name, description=help_text, tag_keys=TAG_KEYS)
            elif spec.kind == GAUGE:
                metric = ray_metrics.Gauge(name, description=help_text, tag_keys=TAG_KEYS)
            else:
                metric = ray_metrics.Histogram(
                    name, description=help_text, boundaries=list(spec.boundaries), tag_keys=TAG_KEYS
                )
            _ray_metrics[spec.key] = metric
        return metric


class MetricsLogger:
    """Sends flat metric dicts to the run log, Python logging and (when Ray is up) Ray's metrics.

    Usable from the driver and from inside actors (thread-safe; Ray metrics are created lazily per process).
    Keys outside core.metrics.REGISTRY are written to the log but not exported, with one warning per key.
    With run_dir=None only logging and Ray metrics are used."""

    def __init__(
        self,
        run_dir: str | os.PathLike | None,
        run_id: str,
        source: str = DRIVER_SOURCE,
        export_to_ray: bool = True,
        log_level: int = logging.INFO,
    ):
        self.run_id, self.source, self.export_to_ray, self.log_level = run_id, source, export_to_ray, log_level
        self.path = metrics_file(run_dir, source) if run_dir is not None else None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._warned: set[str] = set()
        # Experiment trackers (orca_ray.distributed.tracking.DriverTracking): each gets log(values, step, label).
        self.sinks: list = []

    def log(self, metrics: Mapping[str, float], step: int | None = None, label: str = "", export: bool = True) -> dict:
        """Record one report; returns the JSONL record written. `export=False` keeps it from Ray's metrics (the
        run log and the experiment trackers still get it)."""
        values = {key: finite_or_none(value) for key, value in metrics.items()}
        record = self._record(time.time(), step=step)
        if label:
            record["label"] = label
        record.update(values)
        with self._lock:
            if self.path is not None:
                self._append(record)
            for key in values:
                if key not in REGISTRY and key not in self._warned:
                    self._warned.add(key)
                    log.warning("metric %r is not in orca_ray.core.metrics.REGISTRY: logged, not exported", key)
        if log.isEnabledFor(self.log_level):
            prefix = f"[{self.source}]" + (f" step={step}" if step is not None else "") + (f" {label}" if label else "")
            log.log(self.log_level, "%s %s", prefix, format_line(metrics))
        if export and self.export_to_ray and ray_is_initialized():
            self._export(values, label)
        for sink in self.sinks:
            try:
                sink.log(values, step, label)
            except Exception as err:  # noqa: BLE001 - a tracking server that is down must not stop the run
                log.warning("%s: %s (the run goes on; metrics are still in %s)", type(sink).__name__, err, self.path)
        return record

    def span(self, stage: str, started: float, label: str = "", **counts: float) -> dict:
        """Record that `stage` worked from `started` (a time.time()) until now, with counts of what it did (rows,
        tokens): the run report's timeline. Written to the run log only, never exported."""
        now = time.time()
        record = self._record(now, span=stage, start=started, end=now)
        if label:
            record["label"] = label
        record.update(counts)
        if self.path is not None:
            with self._lock:
                self._append(record)
        return record

    def _record(self, now: float, **fields) -> dict:
        """The fields every run-log record starts with, then `fields`."""
        time_text = datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds")
        return {"ts": now, "time": time_text, "run_id": self.run_id, "source": self.source, **fields}

    def _append(self, record: dict) -> None:
        # One write() of one line to a file opened for append: records from threads of this process never mix.
        data = (json.dumps(record, separators=(",", ":")) + "\n").encode("utf-8")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)

    def _export(self, values: Mapping[str, float | None], label: str) -> None:
        for key, value in values.items():
            spec = spec_for(key)
            if spec is None or value is None:
                continue
            tags = {"run_id": self.run_id, "stage": spec.stage, "label": label}
            metric = _ray_metric(spec)
            if spec.kind == COUNTER:
                if value < 0:
                    log.warning("counter %s got a negative increment %s; skipped", key, value)
                elif value > 0:
                    metric.inc(value, tags=tags)
            elif spec.kind == GAUGE:
                metric.set(value, tags=tags)
            else:
                metric.observe(value, tags=tags)


def exported_series() -> dict[str, str]:
    """{key: the series name Prometheus scrapes from Ray}, for dashboards and their tests."""
    return {key: spec.exported_name for key, spec in REGISTRY.items()}
