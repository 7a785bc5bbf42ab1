"""One round of practice and feedback, in the configured mode:

- `barrier`: sample and judge every shard, then train on the persisted preference rows;
- `stream`: shards flow sampler -> judge -> learner, and the learner starts on the first shard's rows;
- `async`: as `stream`, and the learner publishes an adapter every K steps that samplers pick up between shards;
  rows written by a policy more than `loop.max_staleness` versions old are discarded and counted (the rules are in
  orca_ray/distributed/policy_versions.py).

Finished shards are never sampled again on resume (the protocol: orca_ray/core/round_files.py).
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

from orca_ray.core import practice, round_files, stage_settings
from orca_ray.core.manifest import trained_entry
from orca_ray.distributed import rounds
from orca_ray.distributed.policy_versions import Pacing, RoundVersions
from orca_ray.schemas import Lineage, Problem, read_rows

log = logging.getLogger(__name__)


def expected_rows(config, problems: int) -> int:
    """An upper bound on the round's preference rows (the learner sizes its schedule from it; a stream that
    ends earlier ends training early)."""
    pref = config.training.preference
    if pref.method == "kto":
        return problems * (config.sampling.n + 1 + int(pref.borrow_negatives))
    return problems * pref.max_pairs_per_problem


def _stream(run, session, problems, out: Path, done: set[int], versions: RoundVersions, k: int):
    config = run.config
    lineage = Lineage(run_id=run.run_id, iteration=k, seed=config.sampling.seed)
    ds = rounds.shard_dataset(session, problems, config.sampling.batch_size, skip=done)
    if ds is not None:
        ds = rounds.sample_stage(ds, session, stage_settings.student_sampling(config), versions, lineage)
        ds = rounds.judge_stage(ds, session, out, emit="preferences", preferences=stage_settings.preferences(config))
    return ds


def _persisted(out: Path, done: set[int]):
    import ray

    files = [str(f) for f in round_files.preference_files(out, done)]
    return ray.data.read_parquet(files) if files else None


def round_versions(config, out: Path, plan: list[list[str]], adapter: str | None, version: int) -> RoundVersions:
    """The round's policy versions: fixed (barrier, stream), or published by the learner and paced (async)."""
    loop, pref = config.loop, config.training.preference
    if loop.mode != "async":
        return RoundVersions(adapter, version)
    rows_per_step = pref.batch_size * pref.grad_accum * config.resources.trainer.workers
    pacing = Pacing(
        shard_rows=tuple(expected_rows(config, len(shard)) for shard in plan),
        rows_per_step=rows_per_step,
        rows_per_version=rows_per_step * loop.publish_every_steps,
        max_staleness=loop.max_staleness,
        round_dir=str(out),
        rows_key=stage_settings.preferences(config).rows_key,
        in_transit=config.resources.trainer.workers,
    )
    return RoundVersions(adapter, version, str(out / "published"), loop.max_staleness, pacing).open()


def practice_round(run, session, problems: list[Problem], k: int, adapter: str | None, version: int) -> dict:
    """Sample, judge, build preferences and train for iteration k; returns the manifest entry's outputs."""
    from orca_ray.distributed.learner import train_policy

    config, out = run.config, run.root / f"iter-{k}"
    mode, method = config.loop.mode, config.training.preference.method
    row_type = stage_settings.preferences(config).row_type
    plan = practice.plan_shards([p.id for p in problems], config.sampling.batch_size)
    n_shards = len(plan)
    done = round_files.done_shards(out, n_shards)
    versions = round_versions(config, out, plan, adapter, version)
    train_dir, resume = out / "train", len(done) == n_shards
    if done and not resume and train_dir.exists():
        # The stream of a half-finished round is not replayable in order: train it again from the start.
        log.info("iteration %d: %d/%d shards were finished; training restarts on them", k, len(done), n_shards)
        shutil.rmtree(train_dir)
    if mode == "barrier" and len(done) < n_shards:
        _stream(run, session, problems, out, done, versions, k).materialize()
        done, resume = round_files.done_shards(out, n_shards), False
    if len(done) == n_shards:
        dataset = read_rows(out / round_files.PREFERENCES, row_type)
        rows_hint = len(dataset)
    else:
        dataset = _stream(run, session, problems, out, done, versions, k)
        persisted = _persisted(out, done)
        dataset = dataset.union(persisted) if persisted is not None else dataset
        rows_hint = expected_rows(config, len(problems))
    learner_started = time.time()  # stream and async: the learner starts before the first shard is judged
    result = train_policy(
        config,
        method,
        dataset,
        base_model_dir=session.student_model_dir,
        init_adapter=adapter,
        output_dir=train_dir,
        expected_rows=rows_hint,
        resume=resume,
        publish_dir=versions.publish_dir,
        max_staleness=versions.max_staleness if versions.publish_dir else None,
    )
    run.metrics.span("learner", learner_started, label=f"iter-{k}", steps=result.steps)
    # In stream and async modes a learner that reaches training.preference.max_steps ends the round: the shards it
    # did not need are never sampled, and the counts say so rather than implying every problem was practised.
    sampled = round_files.done_shards(out, n_shards)
    problems_sampled = sum(len(plan[i]) for i in sampled)
    if problems_sampled < len(problems):
        log.info(
            "iteration %d: the learner finished after %d of %d shards (training.preference.max_steps); %d problems "
            "were not sampled",
            k,
            len(sampled),
            n_shards,
            len(problems) - problems_sampled,
        )
    counts = round_files.total_counts(out) | {"problems": len(problems), "problems_sampled": problems_sampled}
    if versions.publish_dir:
        counts["stale_discarded"] = versions.stale_discarded()
    return trained_entry(result, counts, policy_version=versions.final_version(), mode=mode)
