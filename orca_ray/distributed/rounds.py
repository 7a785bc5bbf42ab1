"""A run's Ray session (engines started once) and the datasets of one round: practice (sample, judge, build
preferences, stream to the learner) and evaluation (greedy pass@1)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import time
import warnings
from pathlib import Path

from orca_ray.config import RunConfig
from orca_ray.core import practice, stage_settings
from orca_ray.core.stage_settings import Preferences, Sampling
from orca_ray.distributed import stages
from orca_ray.distributed.engine_pool import EnginePool
from orca_ray.distributed.policy_versions import AdapterTransport, RoundVersions, choose_transport
from orca_ray.distributed.resources import (
    forwarding_stage_options,
    judge_stage_options,
    stage_task_slots,
    student_engine_spec,
    teacher_engine_spec,
)
from orca_ray.distributed.teacher import TeacherClient, make_teacher_client
from orca_ray.schemas import Lineage, Problem, Verdict, row_from_dict, write_rows

log = logging.getLogger(__name__)


@dataclasses.dataclass
class Session:
    """What every stage of a run shares: the config, the student engines and the teacher."""

    config: RunConfig
    student: EnginePool
    student_model_dir: str
    teacher: EnginePool | None
    teacher_client: TeacherClient | None
    metrics_dir: str | None = None  # a run directory: stage workers write their metrics under it
    run_id: str = ""
    adapter_transport: AdapterTransport = AdapterTransport()  # how adapters reach the student engines

    def restart_student(self, model_dir: str) -> None:
        """Full fine-tuning: a new student is new weights, so its engines restart (LoRA never needs this)."""
        self.student.shutdown()
        self.student = EnginePool.start(
            "student", student_engine_spec(self.config, model_dir), self.config.resources.sampler
        )
        self.student_model_dir = model_dir


def start_ray(config: RunConfig) -> bool:
    """Start (or attach to) Ray for a run; True when this call started it (a local Ray), which then also holds
    the stages' workers."""
    import ray

    from orca_ray.distributed.cluster import check_shared_output, init_ray, start_stage_workers

    started_ray = not ray.is_initialized()
    init_ray(config.resources)
    check_shared_output(config)
    if started_ray:
        # A local Ray, usually a small machine: its stage workers start now rather than beside a generating engine.
        workers = start_stage_workers(stage_task_slots(config), config.resources.judge_cpus)
        log.info("%d Ray workers ready for the stages", workers)
    return started_ray


@contextlib.contextmanager
def open_session(config: RunConfig, student_model_dir: str):
    """Start (or attach to) Ray, start the student engines and the teacher, and stop them all at the end (Ray
    only if this session started it)."""
    from orca_ray.distributed.cluster import shutdown_ray
    from orca_ray.models import prepare_model

    started_ray = start_ray(config)
    student = teacher = None
    try:
        student = EnginePool.start("student", student_engine_spec(config, student_model_dir), config.resources.sampler)
        if config.teacher.backend == "vllm":
            teacher_dir = str(prepare_model(config.teacher.model))
            teacher = EnginePool.start("teacher", teacher_engine_spec(config, teacher_dir), config.resources.teacher)
        client = make_teacher_client(config.teacher, teacher.handles if teacher else None)
        res = config.resources
        transport = choose_transport(res.adapter_transport, config.output_dir, student.handles, res.adapter_cache_dir)
        yield Session(config, student, student_model_dir, teacher, client, adapter_transport=transport)
    finally:
        for pool in (student, teacher):
            if pool is not None:
                pool.shutdown()
        if started_ray:
            shutdown_ray()


def shard_dataset(session: Session, problems: list[Problem], shard_size: int, skip: set[int] = frozenset()):
    """A dataset of shard records (only the shards not in `skip`), with the teacher's solutions filled in."""
    import ray

    shards = practice.plan_shards([p.id for p in problems], shard_size)
    by_id = {p.id: p for p in problems}
    indices = [i for i in range(len(shards)) if i not in skip]
    records = stages.shard_records([[by_id[pid] for pid in shards[i]] for i in indices], indices)
    if not records:
        return None
    ds = ray.data.from_items(records, override_num_blocks=len(records))
    if session.teacher_client is not None:
        ds = map_stage(
            ds,
            stages.solve_shard,
            {"teacher_client": session.teacher_client, "sampling": stage_settings.teacher_sampling(session.config)},
            forwarding_stage_options(session.config.resources, session.config.resources.teacher),
        )
    return ds


def map_stage(ds, task, settings: dict, options: dict, **map_kwargs):
    """`ds` through one stage's task function (orca_ray.distributed.stages), one shard per task, as an operator
    of its own.

    Ray Data fuses consecutive task maps of equal concurrency into one task (one teacher and one student engine
    give solver, sampler and LLM judge two tasks each), and then a shard would hold its sampler slot while the
    teacher solves and judges it, so the stages would no longer overlap. Ray Data never fuses an operator that has
    a `ray_remote_args_fn`; this one adds nothing to the task's arguments."""
    map_kwargs.setdefault("batch_size", 1)
    # Ray 2.60 deprecates `ray_remote_args_fn` (removal announced for 2.64) and offers no other way to keep two
    # maps of equal resources apart; test_stages_of_equal_concurrency_stay_separate_operators fails once it is gone.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*ray_remote_args_fn.*deprecated", category=DeprecationWarning)
        return ds.map_batches(task, fn_kwargs=settings, ray_remote_args_fn=_no_extra_args, **map_kwargs, **options)


def _no_extra_args() -> dict:
    return {}


def sample_stage(ds, session: Session, sampling: Sampling, versions: RoundVersions, lineage: Lineage):
    return map_stage(
        ds,
        stages.sample_shard,
        {
            "engine_handles": session.student.handles,
            "sampling": sampling,
            "versions": versions,
            "lineage": lineage,
            "system_prompt": session.config.student.system_prompt,
            "metrics_dir": session.metrics_dir,
            "adapter_transport": session.adapter_transport,
        },
        forwarding_stage_options(session.config.resources, session.config.resources.sampler),
    )


def judge_stage(ds, session: Session, out_dir: Path | None, emit: str, preferences: Preferences | None = None):
    config = session.config
    llm = session.teacher_client is not None and config.judge.llm_tier
    return map_stage(
        ds,
        stages.judge_shard,
        {
            "judging": stage_settings.judging(config),
            "teacher_client": session.teacher_client,
            "out_dir": str(out_dir) if out_dir else None,
            "emit": emit,
            "preferences": preferences,
            "metrics_dir": session.metrics_dir,
            "run_id": session.run_id,
        },
        judge_stage_options(config.resources, llm),
    )


def sample_and_judge(
    session: Session,
    problems: list[Problem],
    out_dir: Path | None,
    sampling: Sampling,
    adapter: str | None = None,
    version: int = 0,
    lineage: Lineage | None = None,
    shard_size: int | None = None,
) -> list[Verdict]:
    """Samples with verdicts for every problem (materialized): `orca-ray sample` and evaluation. With `out_dir`,
    each shard's verdicts are also written to `<out_dir>/verdicts/`."""
    lineage = lineage or Lineage(seed=session.config.sampling.seed)
    ds = shard_dataset(session, problems, shard_size or session.config.sampling.batch_size)
    if ds is None:
        return []
    ds = sample_stage(ds, session, sampling, RoundVersions(adapter, version), lineage)
    ds = judge_stage(ds, session, out_dir, emit="verdicts")
    return [row_from_dict(r, Verdict) for r in ds.take_all()]


def evaluate(
    session: Session,
    problems: list[Problem],
    out_dir: Path,
    name: str,
    *,
    adapter: str | None = None,
    version: int = 0,
    max_tokens: int | None = None,
) -> dict:
    """Greedy pass@1 on `problems`: per-problem Parquet `<out_dir>/<name>.parquet` and `<name>.summary.json`."""
    started = time.perf_counter()
    verdicts = sample_and_judge(
        session,
        problems,
        None,
        stage_settings.greedy(max_tokens or session.config.eval.max_tokens),
        adapter=adapter,
        version=version,
    )
    seconds = time.perf_counter() - started
    order = {p.id: i for i, p in enumerate(problems)}
    verdicts.sort(key=lambda v: order[v.problem_id])
    write_rows(out_dir / f"{name}.parquet", verdicts, Verdict)
    tokens = sum(v.num_tokens for v in verdicts)
    summary = practice.pass_at_1(verdicts) | {
        "set": name,
        "adapter": adapter,
        "seconds": round(seconds, 2),
        "tokens": tokens,
        "tokens_per_second": round(tokens / seconds, 1) if seconds else 0.0,
    }
    (out_dir / f"{name}.summary.json").write_text(json.dumps(summary, indent=2))
    return summary
