"""Ray start-up, in one place: attach to a cluster when RAY_ADDRESS is set, else start a local Ray sized for a
small machine (logical CPUs oversubscribed so that fractional stages can stream on 2 cores)."""

from __future__ import annotations

import logging
import os

from orca_ray import console
from orca_ray.config import ResourcesConfig, RunConfig
from orca_ray.distributed.resources import local_num_cpus, node_probe_options, nodes_writing_output
from orca_ray.errors import ConfigError

log = logging.getLogger(__name__)

# Environment every Ray worker of a run gets: offline hub (no hangs on a closed network unless the user allows it)
# and quiet tokenizers. Values already set in the driver's environment win.
_WORKER_ENV_DEFAULTS = {"TOKENIZERS_PARALLELISM": "false", "RAY_DEDUP_LOGS": "1"}


def worker_env() -> dict[str, str]:
    env = dict(_WORKER_ENV_DEFAULTS)
    for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "ORCA_RAY_HOME", "VLLM_CPU_KVCACHE_SPACE", "HF_HOME"):
        if key in os.environ:
            env[key] = os.environ[key]
    return env


def init_ray(resources: ResourcesConfig) -> dict:
    """Start or attach to Ray; returns what the cluster offers ({'CPU': .., 'GPU': ..})."""
    import ray

    from orca_ray.distributed.run_logs import attach_ray

    _configure_ray_data()  # also where the caller started Ray itself: the setting is the driver's, not Ray's
    if ray.is_initialized():
        attach_ray()
        return ray.cluster_resources()
    address = os.environ.get("RAY_ADDRESS")
    if address:
        console.story().info("attaching to the Ray cluster at %s", address)
        ray.init(address=address, runtime_env={"env_vars": worker_env()}, log_to_driver=True)
    else:
        # A local Ray's workers inherit this process's environment through its raylet. Passing the variables as
        # the job's runtime_env instead would give the job's workers another runtime-env key than the workers Ray
        # starts in advance at init, which then sat idle while the first stage tasks waited for new processes.
        for key, value in worker_env().items():
            os.environ.setdefault(key, value)
        num_cpus = local_num_cpus(resources)
        console.story().info("starting a local Ray with %d logical CPUs (dashboard: %s)", num_cpus, resources.dashboard)
        ray.init(
            num_cpus=num_cpus,
            include_dashboard=resources.dashboard,
            dashboard_host="127.0.0.1",  # never exposed beyond this machine by default
            log_to_driver=True,
        )
    attach_ray()  # workers' output into the run's log files (distributed/run_logs.py)
    offered = ray.cluster_resources()
    log.info("Ray resources: %s", {k: v for k, v in offered.items() if k in ("CPU", "GPU", "memory")})
    return offered


def check_shared_output(config: RunConfig, timeout_s: float = 120) -> None:
    """On a cluster of several nodes: every node that may run a stage writing under output_dir (the learner's
    checkpoints and adapters, a round's files) must see it, or the run fails now, naming the nodes and the
    settings, rather than losing checkpoints into a node's local disk later. A marker file written here is looked
    for from each such node. Sampler nodes need not see it (resources.adapter_transport)."""
    import uuid
    from pathlib import Path

    import ray

    alive = {n["NodeID"]: n for n in ray.nodes() if n["Alive"]}
    if len(alive) <= 1:
        return
    writers = nodes_writing_output(config.resources, {node: n["Resources"] for node, n in alive.items()})
    if not writers:
        return
    marker = Path(config.output_dir) / f".orca-ray-storage-{uuid.uuid4().hex}"
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text("")
    sees = ray.remote(os.path.exists)
    try:
        pinned = [sees.options(**node_probe_options(node)).remote(str(marker)) for node in writers]
        seen = dict(zip(writers, ray.get(pinned, timeout=timeout_s), strict=True))
    finally:
        marker.unlink(missing_ok=True)
    blind = [node for node, ok in seen.items() if not ok]
    if blind:
        where = ", ".join(f"{alive[n]['NodeManagerAddress']} ({'/'.join(writers[n])})" for n in blind)
        raise ConfigError(
            f"output_dir {config.output_dir} is not visible from {len(blind)} of the cluster's nodes that may run "
            f"stages writing there: {where}. Ray Train's checkpoints (storage_path <output_dir>/<run>/<stage>/"
            "ray-train), the learner's adapters and a round's verdicts are written under output_dir: mount one "
            "shared filesystem at that path on those nodes (cluster/README.md), or pin the stages to nodes that "
            "see it with resources.trainer.node_resource and resources.judge_node_resource."
        )
    log.info("output_dir %s is visible from the %d nodes that write there", config.output_dir, len(writers))


def _configure_ray_data() -> None:
    """Ray Data settings for orca-ray's datasets, in the driver that builds them.

    Ray Data's per-operator resource reservation held every operator to one running task for about a second at
    the start of each dataset (until its first refresh of the cluster's resources), so a round's shards reached
    the engine one, then the rest a second later, and the engine generated for the first alone. Each stage here
    has an explicit task cap (orca_ray.distributed.resources) and its rows are a few kilobytes of JSON, which is
    what the reservation would otherwise protect."""
    from ray.data import DataContext

    context = DataContext.get_current()
    context.op_resource_reservation_enabled = False
    if console.is_quiet():
        # The run's own display shows the stages' progress: Ray Data's bars would print a dump of every operator
        # each few seconds on a non-interactive terminal, and redraw tqdm bars into the log files from its
        # SplitCoordinator. The datasets built after this copy the setting, also into their workers.
        context.enable_progress_bars = False


def start_stage_workers(count: int, cpus_per_task: float) -> int:
    """Run a dataset of `count` tasks at once, each importing the stage code, so that Ray's worker pool holds that
    many warm workers and Ray Data its own actors before the first round.

    Ray starts a worker process whenever more tasks run at once than it has idle workers, and Ray Data starts two
    actors of its own (statistics, autoscaling) on its first dataset, taking two workers from the pool. On a small
    machine that happened in the middle of a round, and each new process spent about a second of CPU importing
    Ray Data and orca-ray on the cores the engine was generating on. Returns the number of distinct workers."""
    import ray.data
    from ray.data import TaskPoolStrategy

    ds = ray.data.from_items([{"task": i} for i in range(count)], override_num_blocks=count)
    ds = ds.map_batches(_import_stage_code, batch_size=1, num_cpus=cpus_per_task, compute=TaskPoolStrategy(size=count))
    return len({r["pid"] for r in ds.take_all()})


def _import_stage_code(batch: dict) -> dict:
    import time

    import orca_ray.distributed.stages  # noqa: F401

    # Held briefly, so that the tasks overlap and each one takes a worker of its own.
    time.sleep(0.5)
    return {"pid": [os.getpid()]}


def shutdown_ray() -> None:
    """Stop the Ray this process started (never `ray stop`, which would stop every Ray on the machine)."""
    import ray

    if ray.is_initialized():
        ray.shutdown()
