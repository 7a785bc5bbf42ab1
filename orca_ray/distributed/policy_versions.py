"""Policy versions: how a trained adapter reaches the samplers, and how stale a row may be.

A run numbers its policies: the starting one is version 0, SFT's is 1, and each practice round continues from the
version it starts with. In `async` mode the learner publishes its adapter every `loop.publish_every_steps` steps to
`<iter-k>/published/v0002/`, `v0003/`, ... and points `latest.json` at the newest (atomic renames: a reader never
sees half of one); the samplers resolve that pointer before each shard. Two rules bound staleness:

- pacing: a shard is sampled only when the rows judged before it, less those the learner has trained on (or
  discarded), fill less than `max_staleness + 1` publications plus one step, so sampling never runs far ahead of
  the learner (it would otherwise sample every shard with the round's first policy);
- the learner reads each student row against the newest version and discards it when it is more than
  `loop.max_staleness` versions behind; what it checked and discarded is written beside the published versions.

Where the sampler nodes do not see `output_dir` (no shared filesystem), the adapter travels through Ray's object
store instead (`resources.adapter_transport`, the last section here): the sampler's task packs the directory's files,
and each engine writes them once into its node's cache before vLLM loads them by path.

Plain files only (no torch; ray only inside the transport's functions): samplers import this cheaply.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> latest_pointer(d) is None
    True
    >>> (d / "v0001").mkdir(); _ = write_latest(d, 1, d / "v0001", step=4)
    >>> latest_adapter(d) == (1, str(d / "v0001"))
    True
    >>> is_stale(sampled=1, current=3, max_staleness=1), is_stale(sampled=2, current=3, max_staleness=1)
    (True, False)
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orca_ray.core.metrics import MetricNames
from orca_ray.schemas import ORIGIN_STUDENT

log = logging.getLogger(__name__)

LATEST = "latest.json"
WAIT_WARNING_SECONDS = 300.0  # a sampler that waits this long for the learner says so (once)
STALENESS_PREFIX = "staleness-rank-"  # <publish_dir>/staleness-rank-<r>.json: the learner's checks, per worker


# ---------------------------------------------------------------- the published files


def version_dir(publish_dir: str | Path, version: int) -> Path:
    return Path(publish_dir) / f"v{version:04d}"


def latest_pointer(publish_dir: str | Path) -> dict | None:
    """The pointer of the newest version ({version, path, step, final}), or None when there is none yet."""
    try:
        info = json.loads((Path(publish_dir) / LATEST).read_text())
    except (OSError, ValueError):
        return None  # none yet, or being replaced on a filesystem without atomic rename: try again later
    path = Path(info["path"]) if info.get("path") else None
    if path is not None and not path.is_absolute():
        info["path"] = str(Path(publish_dir) / path)
    return info


def latest_adapter(publish_dir: str | Path) -> tuple[int, str] | None:
    """(version, adapter directory) of the newest published adapter, or None when nothing is published yet."""
    info = latest_pointer(publish_dir)
    return (int(info["version"]), str(info["path"])) if info else None


def write_latest(publish_dir: str | Path, version: int, path: str | Path | None, step: int, final: bool = False):
    """Point `latest.json` at a version (write to a temporary file, then rename over the pointer). `final`: the
    learner has finished; samplers stop waiting for it."""
    publish_dir = Path(publish_dir)
    publish_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".latest-", suffix=".json", dir=publish_dir)
    with os.fdopen(fd, "w") as f:
        json.dump({"version": version, "path": str(path) if path else "", "step": step, "final": final}, f)
    os.replace(tmp, publish_dir / LATEST)
    return publish_dir / LATEST


def publish_directory(build_dir: str | Path, target: str | Path) -> Path:
    """Move a finished directory into place under `target`, replacing an older one.

    A rename of a directory is atomic but cannot replace a non-empty one: the old one is renamed aside first, so
    a reader sees the old directory, briefly none, or the new one; never a mixture."""
    build_dir, target = Path(build_dir), Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
    os.replace(build_dir, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return target


def staging_dir(target: str | Path) -> Path:
    """A fresh directory next to `target` (same filesystem, so `publish_directory` is a rename)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{target.name}.build-", dir=target.parent))


def publish_version(publish_dir: str | Path, save, step: int) -> tuple[int, Path]:
    """The learner's side: `save(directory)` writes the policy; it becomes the version after the newest one."""
    latest = latest_pointer(publish_dir)
    version = (int(latest["version"]) if latest else 0) + 1
    target = version_dir(publish_dir, version)
    build = staging_dir(target)
    save(build)
    publish_directory(build, target)
    write_latest(publish_dir, version, target, step)
    return version, target


def finish_publishing(publish_dir: str | Path) -> None:
    """Mark the newest version final: the learner will publish no more (samplers waiting on it go on)."""
    latest = latest_pointer(publish_dir) or {"version": 0, "path": "", "step": 0}
    write_latest(publish_dir, int(latest["version"]), latest["path"] or None, int(latest["step"]), final=True)


# ---------------------------------------------------------------- staleness


def is_stale(sampled: int, current: int, max_staleness: int) -> bool:
    """A student row written by a policy more than `max_staleness` versions behind the newest one is discarded."""
    return current - sampled > max_staleness


def is_student_row(row: dict) -> bool:
    """Only the student's own attempts age (KTO: origin; DPO: the chosen side's origin); the teacher's never do."""
    return row.get("origin", row.get("chosen_origin")) == ORIGIN_STUDENT


class StalenessCheck:
    """The learner's side of the rule: every student row it reads is checked against the newest published version.
    Each worker writes `<publish_dir>/staleness-rank-<r>.json` ({discarded, checks: [{sampled, current, rows,
    discarded}]}) whenever it discards a row and when it finishes; the samplers' pacing reads the discards."""

    def __init__(self, publish_dir: str, max_staleness: int, rank: int):
        self.publish_dir = Path(publish_dir)
        self.max_staleness = max_staleness
        self.path = self.publish_dir / f"{STALENESS_PREFIX}{rank}.json"
        self.checks: Counter[tuple[int, int]] = Counter()
        self.discarded = 0

    def keep(self, row: dict) -> bool:
        if not is_student_row(row):
            return True
        latest = latest_pointer(self.publish_dir)
        sampled = int(row.get("policy_version") or 0)
        current = max(int(latest["version"]), sampled) if latest else sampled
        self.checks[(sampled, current)] += 1
        if not is_stale(sampled, current, self.max_staleness):
            return True
        self.discarded += 1
        self.save()
        return False

    def save(self) -> None:
        checks = [
            {"sampled": s, "current": c, "rows": n, "discarded": is_stale(s, c, self.max_staleness)}
            for (s, c), n in sorted(self.checks.items())
        ]
        partial = self.path.with_name(self.path.name + ".partial")
        partial.write_text(json.dumps({"discarded": self.discarded, "checks": checks}))
        os.replace(partial, self.path)


def read_staleness(publish_dir: str | Path) -> tuple[int, list[dict]]:
    """(rows discarded, every check) of all the learner's workers."""
    discarded, checks = 0, []
    for path in sorted(Path(publish_dir).glob(f"{STALENESS_PREFIX}*.json")):
        try:
            info = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        discarded += int(info["discarded"])
        checks += info["checks"]
    return discarded, checks


# ---------------------------------------------------------------- a round's versions


@dataclass(frozen=True)
class Pacing:
    """Async mode: how far sampling may run ahead of the learner. `shard_rows`: an upper bound on each shard's
    preference rows (the planned shards, in order); a judged shard's counts file says how many it really built."""

    shard_rows: tuple[int, ...]
    rows_per_step: int  # batch x gradient accumulation x workers
    rows_per_version: int  # rows_per_step x loop.publish_every_steps
    max_staleness: int
    round_dir: str  # the round's directory: each judged shard's counts (orca_ray/core/round_files.py)
    rows_key: str  # the key of the rows built in those files: "examples" (KTO) or "pairs" (DPO)
    # Shards on their way to the learner that it cannot train on yet: each worker's reader fetches the next shard
    # before it hands over the rows of the one it holds (Ray Data's prefetch of one block).
    in_transit: int = 1

    def limit(self) -> int:
        """The backlog (rows judged, not yet trained on or discarded) below which a shard may start: rows for
        `max_staleness + 1` publications, and the batch the trainer fetches ahead of the step it runs."""
        return (self.max_staleness + 1) * self.rows_per_version + self.rows_per_step

    def backlog(self, shard: int, pointer: dict, discarded: int) -> int:
        """Rows of the shards before `shard` the learner could have trained on (those in transit apart), less what
        it has trained on (the pointer's step) and discarded."""
        before = sum(self._rows(i) for i in range(max(0, shard - self.in_transit)))
        return before - int(pointer.get("step", 0)) * self.rows_per_step - discarded

    def _rows(self, shard: int) -> int:
        from orca_ray.core.round_files import shard_counts

        counts = shard_counts(Path(self.round_dir), shard) or {}
        if self.rows_key not in counts:
            return self.shard_rows[shard]  # not judged yet: its upper bound
        return int(counts[self.rows_key])


@dataclass(frozen=True)
class RoundVersions:
    """The policy versions of one practice round: the policy it starts from, and (async) where the learner
    publishes, how samplers resolve it and how far they may run ahead. Loop, iteration, samplers and learner ask
    this object; none of them does version arithmetic of its own."""

    start_path: str | None  # the adapter the round starts from (None: the base model, or a full model's weights)
    start_version: int
    publish_dir: str | None = None  # async only
    max_staleness: int = 0
    pacing: Pacing | None = field(default=None, compare=False)
    poll_seconds: float = 0.2

    def open(self) -> RoundVersions:
        """Write the initial pointer (async): the learner's versions continue after the round's starting one."""
        if self.publish_dir and latest_pointer(self.publish_dir) is None:
            write_latest(self.publish_dir, self.start_version, self.start_path, step=0)
        return self

    def resolve(self, shard: int | None = None) -> tuple[str | None, int]:
        """(adapter, version) a sampler uses for `shard`: the newest published one (async, after waiting for its
        turn), else the round's starting policy."""
        if not self.publish_dir:
            return self.start_path, self.start_version
        pointer = self._wait_for_turn(shard) if shard is not None and self.pacing else latest_pointer(self.publish_dir)
        if pointer and int(pointer["version"]) > self.start_version:
            return pointer["path"], int(pointer["version"])
        return self.start_path, self.start_version

    def _wait_for_turn(self, shard: int) -> dict | None:
        started, warned = time.monotonic(), False
        while True:
            pointer = latest_pointer(self.publish_dir)
            if pointer is None or pointer.get("final"):
                return pointer
            discarded, _ = read_staleness(self.publish_dir)
            backlog = self.pacing.backlog(shard, pointer, discarded)
            if backlog < self.pacing.limit():
                return pointer
            if not warned and time.monotonic() - started > WAIT_WARNING_SECONDS:
                warned = True
                log.warning(
                    "shard %d has waited %.0f s for the learner (%d rows ahead of it, at most %d; version %s, step %s)",
                    shard,
                    time.monotonic() - started,
                    backlog,
                    self.pacing.limit(),
                    pointer["version"],
                    pointer.get("step"),
                )
            time.sleep(self.poll_seconds)

    def final_version(self) -> int:
        """The version of the round's trained policy: the learner's last publication (async), else the next one."""
        latest = latest_pointer(self.publish_dir) if self.publish_dir else None
        published = int(latest["version"]) if latest else self.start_version
        return published if published > self.start_version else self.start_version + 1

    def stale_discarded(self) -> int:
        return read_staleness(self.publish_dir)[0] if self.publish_dir else 0


# ---------------------------------------------------------------- how an adapter reaches the engines

SHARED_PATH, OBJECT_STORE = "shared_path", "object_store"
REMOTE_PREFIXES = ("s3://", "gs://", "gcs://", "abfss://", "az://", "azure://", "hdfs://", "file://")
MARKER_PREFIX = ".orca-ray-visible-"


@dataclass(frozen=True)
class AdapterShipment:
    """An adapter directory on its way through the object store: `files` is the ObjectRef of {name: bytes}; `key`
    names its content (path, names, sizes, modification times), so a node writes each version once."""

    source: str
    key: str
    files: Any
    size: int
    cache_dir: str | None = None


@dataclass(frozen=True)
class AdapterTransport:
    """The run's decision (`choose_transport`): what a sampler hands its engine for an adapter path."""

    mode: str = SHARED_PATH
    cache_dir: str | None = None

    def ship(self, adapter: str | None) -> str | AdapterShipment | None:
        """In a sampler's task, on a node that sees `adapter`: the path itself (shared path, cloud URI, none), or
        its files put into the object store."""
        if self.mode != OBJECT_STORE or not adapter or adapter.startswith(REMOTE_PREFIXES):
            return adapter
        import ray

        files = read_adapter_files(adapter)
        return AdapterShipment(
            adapter, content_key(adapter, files), ray.put(files), sum(map(len, files.values())), self.cache_dir
        )


def read_adapter_files(directory: str | Path) -> dict[str, bytes]:
    """Every file under an adapter directory, by its path relative to it (PEFT writes a few MB, flat)."""
    root = Path(directory)
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def content_key(source: str, files: dict[str, bytes]) -> str:
    """A cache name for one adapter version: its directory's name and a digest of its path and files.

    >>> content_key("/runs/r/iter-1/train/adapter", {"a": b"1"}).startswith("adapter-")
    True
    >>> content_key("/x/adapter", {"a": b"1"}) != content_key("/x/adapter", {"a": b"2"})
    True
    """
    digest = hashlib.sha256(source.encode())
    for name, data in sorted(files.items()):
        digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return f"{Path(source).name}-{digest.hexdigest()[:16]}"


def adapter_cache_root(cache_dir: str | None) -> Path:
    """The node-local cache of shipped adapters (resources.adapter_cache_dir, else $ORCA_RAY_HOME/adapters)."""
    if cache_dir:
        return Path(cache_dir).expanduser()
    from orca_ray.models import orca_ray_home

    return orca_ray_home() / "adapters"


def write_adapter_files(files: dict[str, bytes], target: Path) -> Path:
    """Write a shipped adapter under `target`, once per node: built beside it, then renamed into place; a copy
    another engine of the node renamed first is kept."""
    if (target / "adapter_config.json").is_file():
        return target
    build = staging_dir(target)
    for name, data in files.items():
        (build / name).parent.mkdir(parents=True, exist_ok=True)
        (build / name).write_bytes(data)
    try:
        os.replace(build, target)
    except OSError:  # another engine of this node renamed its copy first
        shutil.rmtree(build, ignore_errors=True)
    return target


_ARRIVING: dict[str, Any] = {}  # key -> asyncio.Lock, in an engine's process: concurrent shards fetch a version once


async def receive_adapter(adapter: str | AdapterShipment | None) -> tuple[str | None, float | None]:
    """On the engine's node: (a path vLLM can load, seconds spent bringing it here or None when it was already
    here). A shipment is fetched from the object store and written into the node's cache only on first sight."""
    import asyncio

    if not isinstance(adapter, AdapterShipment):
        return adapter, None
    target = adapter_cache_root(adapter.cache_dir) / adapter.key
    async with _ARRIVING.setdefault(adapter.key, asyncio.Lock()):
        if (target / "adapter_config.json").is_file():
            return str(target), None
        started = time.perf_counter()
        files = await adapter.files
        write_adapter_files(files, target)
        seconds = time.perf_counter() - started
    log.info("adapter %s (%.1f MB) written to %s in %.2f s", adapter.source, adapter.size / 1e6, target, seconds)
    return str(target), seconds


def deliver_adapter(transport: AdapterTransport, adapter: str | None, engines: list) -> tuple[Any, dict]:
    """A sampler's side, before it sends a shard: what to hand the engine for `adapter`, and the arrival's
    figures when this call brought a new version to the engines' nodes. Every engine of the pool receives it at
    once, so the figures are the time to bring a version to every sampler node ({} when it was already there)."""
    started = time.perf_counter()
    shipped = transport.ship(adapter)
    if not isinstance(shipped, AdapterShipment):
        return shipped, {}
    import ray

    arrivals = [seconds for _, seconds in ray.get([engine.receive_adapter.remote(shipped) for engine in engines])]
    if all(seconds is None for seconds in arrivals):
        return shipped, {}
    figures = transport_figures(arrivals) | {MetricNames.ADAPTER_DELIVERY_SECONDS: time.perf_counter() - started}
    figures[MetricNames.ADAPTER_MEGABYTES] = shipped.size / 1e6
    log.info(
        "adapter %s reached %d engine nodes in %.2f s",
        adapter,
        figures[MetricNames.ADAPTER_NODES_REACHED],
        figures[MetricNames.ADAPTER_DELIVERY_SECONDS],
    )
    return shipped, figures


def choose_transport(mode: str, output_dir: str, engines: list, cache_dir: str | None = None) -> AdapterTransport:
    """Resolve resources.adapter_transport at the start of a run. `auto`: a marker file written into output_dir
    here; if every engine (each on its own node's filesystem) sees it, adapters are loaded from the shared path,
    else they travel through the object store. `engines`: actor handles with `sees(path) -> bool`."""
    if mode == "auto":
        import ray

        marker = Path(output_dir) / f"{MARKER_PREFIX}{uuid.uuid4().hex}"
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text("")
        try:
            seen = ray.get([engine.sees.remote(str(marker)) for engine in engines])
        finally:
            marker.unlink(missing_ok=True)
        mode = SHARED_PATH if all(seen) else OBJECT_STORE
        why = "every sampler engine sees" if all(seen) else f"{seen.count(False)} of {len(seen)} engines cannot see"
        log.info("adapter transport auto: %s (%s %s)", mode, why, output_dir)
    return AdapterTransport(mode, cache_dir)


def transport_figures(seconds_by_engine: list[float | None]) -> dict[str, float]:
    """Flat metrics of one version's arrival: the slowest engine's time is the time to reach every sampler node.

    >>> transport_figures([0.5, None, 1.25])
    {'adapter/transport_seconds': 1.25, 'adapter/nodes_reached': 2}
    """
    arrived = [s for s in seconds_by_engine if s is not None]
    return {
        MetricNames.ADAPTER_TRANSPORT_SECONDS: max(arrived, default=0.0),
        MetricNames.ADAPTER_NODES_REACHED: len(arrived),
    }
