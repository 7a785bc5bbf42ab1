"""One round of practice and feedback, in the configured mode:

- `barrier`: sample and judge every shard, then train on the persisted preference rows;
- `stream`: shards flow sampler -> judge -> learner, and the learner starts on the first shard's rows;
- `async`: as `stream`, and the learner publishes an adapter every K steps that samplers pick up between shards;
  rows written by a policy more than `loop.max_staleness` versions old are discarded and counted.

Finished shards (their verdict file exists) are never sampled again on resume.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
import uuid
from pathlib import Path

from orca_ray.core import practice
from orca_ray.core.preferences import add_counts
from orca_ray.distributed import rounds, stages
from orca_ray.distributed.resources import judge_stage_options
from orca_ray.schemas import ORIGIN_STUDENT, DPOPair, KTOExample, Problem, read_rows

log = logging.getLogger(__name__)


def _row_type(method: str) -> type:
    return KTOExample if method == "kto" else DPOPair


def preference_settings(config) -> dict:
    pref = config.training.preference
    if pref.method == "kto":
        kwargs = {"include_teacher_positive": pref.include_teacher_positive}
    else:
        kwargs = {"max_pairs_per_problem": pref.max_pairs_per_problem}
    kwargs |= {
        "borrow_negatives": pref.borrow_negatives,
        "seed": config.seed,
        "unanswered_as_negative": pref.unanswered_as_negative,
    }
    return {"method": pref.method, "kwargs": kwargs}


def expected_rows(config, problems: int) -> int:
    """An upper bound on the round's preference rows (the learner sizes its schedule from it; a stream that
    ends earlier ends training early)."""
    pref = config.training.preference
    if pref.method == "kto":
        return problems * (config.sampling.n + 1 + int(pref.borrow_negatives))
    return problems * pref.max_pairs_per_problem


class StaleFilter:
    """Async mode: drop student rows written by a policy too far behind the newest published adapter."""

    def __init__(self, publish_dir: str, max_staleness: int, counts_dir: str):
        self.publish_dir = publish_dir
        self.max_staleness = max_staleness
        self.counts_dir = Path(counts_dir)
        self.counts_dir.mkdir(parents=True, exist_ok=True)

    def __call__(self, table):
        import pyarrow as pa
        import pyarrow.compute as pc

        from orca_ray.adapters import latest_adapter

        latest = latest_adapter(self.publish_dir)
        if latest is None or table.num_rows == 0:
            return table
        current = latest[0]
        origin = table.column("origin" if "origin" in table.column_names else "chosen_origin")
        stale = pc.and_(
            pc.equal(origin, ORIGIN_STUDENT),
            pc.greater(pc.subtract(pa.scalar(current), table.column("policy_version")), self.max_staleness),
        )
        dropped = pc.sum(pc.cast(stale, pa.int64())).as_py() or 0
        if dropped:
            (self.counts_dir / f"{uuid.uuid4().hex}.json").write_text(json.dumps({"stale_discarded": dropped}))
        return table.filter(pc.invert(stale))


def filter_stale(table, **settings):
    """StaleFilter as a Ray Data task (see orca_ray.distributed.stages for why tasks)."""
    return StaleFilter(**settings)(table)


def _done_shards(out: Path, n_shards: int) -> set[int]:
    return {i for i in range(n_shards) if (out / "verdicts" / f"{practice.shard_name(i)}.parquet").is_file()}


def _stream(run, session, problems, out: Path, done: set[int], adapter_source, version: int, k: int):
    config = run.config
    lineage = {"run_id": run.run_id, "iteration": k, "seed": config.sampling.seed}
    ds = rounds.shard_dataset(session, problems, config.sampling.batch_size, skip=done)
    if ds is not None:
        ds = rounds.sample_stage(ds, session, rounds.sampling_params(config), adapter_source, lineage)
        ds = rounds.judge_stage(ds, session, out, emit="preferences", preference=preference_settings(config))
    return ds


def _persisted(out: Path, done: set[int]):
    import ray

    files = [str(out / "preferences" / f"{practice.shard_name(i)}.parquet") for i in sorted(done)]
    return ray.data.read_parquet(files) if files else None


def _collect_counts(out: Path) -> dict[str, int]:
    total: dict[str, int] = {}
    for folder in ("counts", "stale"):
        for file in sorted((out / folder).glob("*.json")) if (out / folder).is_dir() else []:
            total = add_counts(total, json.loads(file.read_text()))
    return total


def practice_round(run, session, problems: list[Problem], k: int, adapter: str | None, version: int) -> dict:
    """Sample, judge, build preferences and train for iteration k; returns the manifest entry's outputs."""
    from orca_ray.distributed.learner import train_policy

    config, out = run.config, run.root / f"iter-{k}"
    mode, method = config.loop.mode, config.training.preference.method
    plan = practice.plan_shards([p.id for p in problems], config.sampling.batch_size)
    n_shards = len(plan)
    done = _done_shards(out, n_shards)
    publish_dir = str(out / "published") if mode == "async" else None
    if publish_dir and _latest_version(publish_dir) is None:
        # Versions are global across the run: the learner's publications continue from the current policy's.
        from orca_ray.adapters import write_latest

        Path(publish_dir).mkdir(parents=True, exist_ok=True)
        write_latest(publish_dir, version, adapter or "", step=0)
    source = stages.AdapterSource(adapter, version, publish_dir)
    train_dir, resume = out / "train", len(done) == n_shards
    if done and not resume and train_dir.exists():
        # The stream of a half-finished round is not replayable in order: train it again from the start.
        log.info("iteration %d: %d/%d shards were finished; training restarts on them", k, len(done), n_shards)
        shutil.rmtree(train_dir)
    if mode == "barrier" and len(done) < n_shards:
        _stream(run, session, problems, out, done, source, version, k).materialize()
        done, resume = _done_shards(out, n_shards), False
    if len(done) == n_shards:
        dataset = read_rows(out / "preferences", _row_type(method))
        rows_hint = len(dataset)
    else:
        dataset = _stream(run, session, problems, out, done, source, version, k)
        if mode == "async":
            dataset = rounds.map_stage(
                dataset,
                filter_stale,
                {
                    "publish_dir": publish_dir,
                    "max_staleness": config.loop.max_staleness,
                    "counts_dir": str(out / "stale"),
                },
                judge_stage_options(config.resources, False),
                batch_format="pyarrow",
                batch_size=None,
            )
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
        publish_dir=publish_dir,
    )
    run.metrics.span("learner", learner_started, label=f"iter-{k}", steps=result.steps)
    # In stream and async modes a learner that reaches training.preference.max_steps ends the round: the shards it
    # did not need are never sampled, and the counts say so rather than implying every problem was practised.
    sampled = _done_shards(out, n_shards)
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
    counts = _collect_counts(out) | {
        "problems": len(problems),
        "problems_sampled": problems_sampled,
        "train_steps": result.steps,
    }
    published = _latest_version(publish_dir) if publish_dir else None
    final_version = max(version, published or version) + 1
    policy = result.adapter_dir or result.model_dir
    return {
        "policy": str(policy),
        "full": result.adapter_dir is None,
        "policy_version": final_version,
        "counts": counts,
        "metrics": result.metrics,
        "mode": mode,
    }


def _latest_version(publish_dir: str) -> int | None:
    from orca_ray.adapters import latest_adapter

    latest = latest_adapter(publish_dir)
    return latest[0] if latest else None
