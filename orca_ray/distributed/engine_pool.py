"""Engine actors for a role (student samplers, teacher): started once per run, placed by the scheduler's
decisions, shared by every stage that needs them, and stopped together."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from orca_ray import console
from orca_ray.config import EngineResources
from orca_ray.distributed.engine import AsyncGenerationEngine, EngineSpec
from orca_ray.distributed.resources import (
    ENGINE_MAX_CONCURRENCY,
    ENGINE_MAX_RESTARTS,
    ENGINE_MAX_TASK_RETRIES,
    engine_actor_options,
    engine_placement_bundles,
)
from orca_ray.errors import EngineError

log = logging.getLogger(__name__)


def start_failure_line(actor_error: str) -> str | None:
    """The EngineError an engine's constructor raised (`explain_start_failure`'s one line), out of the text of the
    ActorDiedError Ray raises on the caller's side (Ray 2.60 keeps the creation task's error only as text there).

    >>> start_failure_line("The actor died ...\\n  File x\\norca_ray.errors.EngineError: teacher engine ...: why")
    'teacher engine ...: why'
    """
    found = [line.split("EngineError: ", 1)[1] for line in actor_error.splitlines() if "EngineError: " in line]
    return found[-1].strip() if found else None


@dataclass
class EnginePool:
    role: str
    spec: EngineSpec
    handles: list = field(default_factory=list)
    placement_groups: list = field(default_factory=list)
    start_seconds: list[float] = field(default_factory=list)

    @classmethod
    def start(cls, role: str, spec: EngineSpec, resources: EngineResources, timeout_s: float = 900) -> EnginePool:
        """Start `resources.actors` engines and wait until every one has loaded its model."""
        import ray
        from ray.util.placement_group import placement_group
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        pool = cls(role=role, spec=spec)
        actor_cls = ray.remote(AsyncGenerationEngine)
        for index in range(resources.actors):
            options = dict(
                engine_actor_options(resources),
                max_concurrency=ENGINE_MAX_CONCURRENCY,
                max_restarts=ENGINE_MAX_RESTARTS,
                max_task_retries=ENGINE_MAX_TASK_RETRIES,
            )
            bundles = engine_placement_bundles(resources)
            if bundles:
                # Tensor parallel: vLLM's Ray executor places one worker per GPU bundle of the group it runs in;
                # STRICT_PACK, because the autoscaler may split a PACK group over several 1-GPU nodes.
                group = placement_group(bundles, strategy="STRICT_PACK")  # one node: TP needs fast links
                ray.get(group.ready(), timeout=timeout_s)
                pool.placement_groups.append(group)
                options["scheduling_strategy"] = PlacementGroupSchedulingStrategy(
                    placement_group=group, placement_group_capture_child_tasks=True
                )
            pool.handles.append(actor_cls.options(**options).remote(spec))
            log.info("starting %s engine %d/%d for %s", role, index + 1, resources.actors, spec.model_dir)
        pool.start_seconds = pool._wait_ready(timeout_s)
        count = f"{len(pool.handles)} {role} engines" if len(pool.handles) > 1 else f"{role} engine"
        console.story().info("%s ready in %.0f s (%s)", count, max(pool.start_seconds), spec.model_dir)
        return pool

    def _wait_ready(self, timeout_s: float) -> list[float]:
        import ray

        try:
            return ray.get([h.ready.remote() for h in self.handles], timeout=timeout_s)
        except ray.exceptions.GetTimeoutError as err:
            self.shutdown()
            raise EngineError(
                f"{self.role} engines did not start within {timeout_s:.0f} s: the cluster may lack the resources "
                f"asked for in resources.{'sampler' if self.role == 'student' else 'teacher'}"
            ) from err
        except ray.exceptions.RayActorError as err:
            self.shutdown()
            raise EngineError(start_failure_line(str(err)) or f"{self.role} engine failed to start: {err}") from err

    def shutdown(self) -> None:
        import ray
        from ray.util.placement_group import remove_placement_group

        for handle in self.handles:
            ray.kill(handle)
        for group in self.placement_groups:
            remove_placement_group(group)
        self.handles, self.placement_groups = [], []
