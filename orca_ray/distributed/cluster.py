"""Ray start-up, in one place: attach to a cluster when RAY_ADDRESS is set, else start a local Ray sized for a
small machine (logical CPUs oversubscribed so that fractional stages can stream on 2 cores)."""

from __future__ import annotations

import logging
import os

from orca_ray.config import ResourcesConfig
from orca_ray.distributed.resources import local_num_cpus

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

    if ray.is_initialized():
        return ray.cluster_resources()
    runtime_env = {"env_vars": worker_env()}
    address = os.environ.get("RAY_ADDRESS")
    if address:
        log.info("attaching to the Ray cluster at %s", address)
        ray.init(address=address, runtime_env=runtime_env, log_to_driver=True)
    else:
        num_cpus = local_num_cpus(resources)
        log.info("starting a local Ray with %d logical CPUs (dashboard: %s)", num_cpus, resources.dashboard)
        ray.init(
            num_cpus=num_cpus,
            include_dashboard=resources.dashboard,
            dashboard_host="127.0.0.1",  # never exposed beyond this machine by default
            runtime_env=runtime_env,
            log_to_driver=True,
        )
    offered = ray.cluster_resources()
    log.info("Ray resources: %s", {k: v for k, v in offered.items() if k in ("CPU", "GPU", "memory")})
    return offered


def shutdown_ray() -> None:
    """Stop the Ray this process started (never `ray stop`, which would stop every Ray on the machine)."""
    import ray

    if ray.is_initialized():
        ray.shutdown()
