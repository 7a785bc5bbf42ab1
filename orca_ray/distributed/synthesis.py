"""The Agent-Instruct job on Ray Data: seed problems in shards, a pool of worker actors running the AutoGen flows
with bounded concurrency, Parquet shards written atomically, and a final pass (near-duplicates, evaluation overlap)
that writes the kept problems and the yield summary.

Layout of an output directory:

    shards/shard-00000.parquet   rows that passed self-consistency and the length limit (written last: marks done)
    shards/shard-00000.json      that shard's yield counts, errors, and the seeds and settings it was made from
    shards/shard-00000.trace.jsonl  every conversation and every judged problem of the shard, to read
    problems.parquet             the kept problems (after near-duplicate removal and decontamination)
    summary.json                 the yield summary

A re-run skips every shard whose Parquet file exists (and checks that it was made from the same seeds and
settings); the final pass is cheap and is always redone.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from orca_ray.config import RunConfig
from orca_ray.core.synthesis_filters import STAGES, YieldCounts, drop_duplicates_and_overlap, yield_table
from orca_ray.errors import OrcaRayError, TeacherError
from orca_ray.schemas import Lineage, Problem, read_rows, write_rows

log = logging.getLogger(__name__)

SHARDS_DIR = "shards"
PROBLEMS_FILE = "problems.parquet"
SUMMARY_FILE = "summary.json"
# Settings that change what a shard holds; the others (concurrency, how many seeds in all) do not.
_SHARD_INDEPENDENT = {"enabled", "seeds", "max_concurrent_conversations", "shard_size"}


def default_output_dir(config: RunConfig) -> Path:
    return Path(config.output_dir).expanduser() / (config.run_id or config.name) / "synthesis"


def shard_paths(out_dir: Path, index: int) -> tuple[Path, Path]:
    stem = Path(out_dir) / SHARDS_DIR / f"shard-{index:05d}"
    return stem.with_suffix(".parquet"), stem.with_suffix(".json")


# ---------------------------------------------------------------- inputs


def load_seeds(config: RunConfig, quarantine_dir: Path) -> list[Problem]:
    """The seed problems: every source of data.train in order, at most synthesis.seeds, ids made unique."""
    from orca_ray.data.readers import read_problems

    seeds: list[Problem] = []
    for source in config.data.train:
        seeds += read_problems(source, on_bad_row=config.data.on_bad_row, quarantine_dir=quarantine_dir).problems
        if config.synthesis.seeds is not None and len(seeds) >= config.synthesis.seeds:
            break
    return select_seeds(config, seeds)


def select_seeds(config: RunConfig, problems: list[Problem]) -> list[Problem]:
    """At most synthesis.seeds of `problems`, in order, with unique ids (synthesized ids derive from them)."""
    chosen = problems[: config.synthesis.seeds] if config.synthesis.seeds is not None else list(problems)
    seen: set[str] = set()
    for position, seed in enumerate(chosen):  # two sources may both have a 'p1'
        if seed.id in seen:
            chosen[position] = seed = dataclasses.replace(seed, id=f"{seed.id}#{position}")
        seen.add(seed.id)
    return chosen


def load_eval_questions(config: RunConfig, quarantine_dir: Path) -> list[str]:
    """The questions of every evaluation set, for decontamination (none when data.decontaminate is off)."""
    from orca_ray.data.readers import read_problems

    if not config.data.decontaminate:
        return []
    questions: list[str] = []
    for source in config.data.eval.values():
        result = read_problems(source, on_bad_row=config.data.on_bad_row, quarantine_dir=quarantine_dir)
        questions += [p.question for p in result.problems]
    return questions


def shard_settings(config: RunConfig, model: str) -> dict:
    """What a shard's contents depend on besides its seeds (recorded next to it, compared on resume)."""
    synthesis = config.synthesis.model_dump(mode="json", exclude=_SHARD_INDEPENDENT)
    return {
        "synthesis": synthesis,
        "model": model,
        "teacher_backend": config.teacher.backend,
        "use_math_verify": config.judge.use_math_verify,
    }


def _fingerprint(seeds: list[Problem], settings: dict) -> str:
    payload = json.dumps({"seeds": [(s.id, s.question, s.answer) for s in seeds], "settings": settings}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def pending_shards(out_dir: Path, shards: list[list[Problem]], settings: dict) -> list[int]:
    """Indices of shards still to do. A finished shard made from other seeds or settings is an error: mixing
    them would make the output a blend of two configs."""
    pending = []
    for index, seeds in enumerate(shards):
        parquet, sidecar = shard_paths(out_dir, index)
        if not parquet.is_file():
            pending.append(index)
            continue
        recorded = json.loads(sidecar.read_text()) if sidecar.is_file() else {}
        if recorded.get("fingerprint") != _fingerprint(seeds, settings):
            old = recorded.get("settings", {})
            changed = sorted({*old, *settings} - {k for k in settings if old.get(k) == settings[k]})
            what = f"settings {', '.join(changed)}" if changed else "seed problems"
            from orca_ray.errors import ConfigError

            raise ConfigError(
                f"{parquet}: this finished shard was made from other {what} than the current config. "
                f"Use another --out, or delete {out_dir} to start over."
            )
    return pending


# ---------------------------------------------------------------- one shard, inside a worker


@dataclass
class ShardResult:
    rows: list[Problem] = field(default_factory=list)
    counts: YieldCounts = field(default_factory=YieldCounts)
    errors: dict[str, int] = field(default_factory=dict)
    trace: list[dict] = field(default_factory=list)


async def synthesize_shard(
    seeds: list[Problem],
    client_factory: Callable,
    config: RunConfig,
    lineage: Lineage,
    conversations: int,
    first_position: int = 0,
) -> ShardResult:
    """Every seed of a shard through both flows, at most `conversations` agent conversations (or one problem's
    k solutions) in flight; the agents run only on seeds before position synthesis.agent_seeds of all seeds
    (`first_position`: this shard's first). Raises TeacherError when every conversation failed (a dead endpoint,
    a wrong model): an empty shard would otherwise hide it."""
    from orca_ray.agents.flows import synthesize_seed

    synthesis = config.synthesis
    agent_client = client_factory(temperature=synthesis.agent_temperature, max_tokens=synthesis.agent_max_tokens)
    answer_client = client_factory(temperature=synthesis.answer_temperature, max_tokens=config.teacher.max_tokens)
    limit = asyncio.Semaphore(conversations)
    solve_verified = config.teacher.backend != "symbolic"  # the symbolic teacher's own solutions are exact
    try:
        results = await asyncio.gather(*(
            synthesize_seed(seed, agent_client, answer_client, synthesis, lineage, limit=limit,
                            use_math_verify=config.judge.use_math_verify, solve_verified=solve_verified,
                            run_agents=synthesis.agent_seeds is None or first_position + j < synthesis.agent_seeds)
            for j, seed in enumerate(seeds)
        ))  # fmt: skip
    finally:
        await agent_client.close()
        await answer_client.close()
    shard = ShardResult()
    for result in results:
        shard.rows += result.rows
        shard.counts = shard.counts.merge(result.counts)
        for agent, n in result.errors.items():
            shard.errors[agent] = shard.errors.get(agent, 0) + n
        shard.trace += result.trace
    attempted = sum(r.attempts for r in results)
    if attempted and sum(shard.errors.values()) >= attempted:
        # A dead endpoint or a wrong model: the symbolic transform's candidates used to hide it (they are
        # 'generated' without a model, then every solution round failed and the run kept nothing, exit 0).
        first = next((r.first_error for r in results if r.first_error), "")
        raise TeacherError(f"all {attempted} model calls of this shard failed; the first: {first}")
    return shard


class _DropAutogenTracebacks(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Error processing publish message")


def quiet_autogen_failures() -> None:
    """AutoGen logs every failed agent turn with its whole traceback; each failed conversation is already
    reported in one line (flows._record_error) and counted, so those records are dropped."""
    logger = logging.getLogger("autogen_core")
    if not any(isinstance(f, _DropAutogenTracebacks) for f in logger.filters):
        logger.addFilter(_DropAutogenTracebacks())


class SynthesisWorker:
    """A Ray Data actor: takes whole shards (one row each: index, seeds, fingerprint), runs them on its own event
    loop and writes each shard's Parquet file and counts. Returns one summary row per shard."""

    def __init__(
        self,
        config_json: str,
        client_factory: Callable,
        out_dir: str,
        conversations: int,
        settings: dict,
    ):
        quiet_autogen_failures()
        self.config = RunConfig.model_validate_json(config_json)
        self.client_factory = client_factory
        self.out_dir = Path(out_dir)
        self.conversations = conversations
        self.settings = settings
        self.lineage = Lineage(run_id=self.config.run_id or self.config.name, source="synthesis", seed=self.config.seed)

    def __call__(self, batch: dict) -> dict:
        done: dict[str, list] = {"shard": [], "rows": [], "failure": []}
        for index, seeds_json, fingerprint in zip(batch["shard"], batch["seeds"], batch["fingerprint"], strict=True):
            seeds = [Problem(**s) for s in json.loads(seeds_json)]
            done["shard"].append(int(index))
            try:
                result = asyncio.run(
                    synthesize_shard(
                        seeds,
                        self.client_factory,
                        self.config,
                        self.lineage,
                        self.conversations,
                        first_position=int(index) * self.config.synthesis.shard_size,
                    )
                )
            except OrcaRayError as err:  # sent back as data: Ray's wrappers would lose the class and message
                done["rows"].append(0)
                done["failure"].append(json.dumps([type(err).__name__, str(err)]))
                continue
            write_shard(self.out_dir, int(index), result, seeds, fingerprint, self.settings)
            done["rows"].append(len(result.rows))
            done["failure"].append("")
        return done


def write_shard(
    out_dir: Path, index: int, result: ShardResult, seeds: list[Problem], fingerprint: str, settings: dict
) -> None:
    """The trace and the counts first, then the rows: the Parquet file appears last, atomically, and marks the
    shard done."""
    parquet, sidecar = shard_paths(out_dir, index)
    sidecar.parent.mkdir(parents=True, exist_ok=True)
    trace = sidecar.with_suffix(".trace.jsonl")
    trace.write_text("".join(json.dumps(item, ensure_ascii=False) + "\n" for item in result.trace))
    record = {
        "shard": index,
        "fingerprint": fingerprint,
        "settings": settings,
        "seed_ids": [s.id for s in seeds],
        "counts": result.counts.to_dict(),
        "errors": result.errors,
        "rows": len(result.rows),
    }
    tmp = sidecar.with_name(f".{sidecar.name}.tmp")
    tmp.write_text(json.dumps(record, indent=1))
    tmp.replace(sidecar)
    write_rows(parquet, result.rows, Problem)


# ---------------------------------------------------------------- the driver


@dataclass
class SynthesisSummary:
    """What a synthesis run made: the yield counts per stage and agent, errors, shards run and skipped."""

    out_dir: str
    seeds: int
    counts: YieldCounts
    errors: dict[str, int]
    shards: int
    shards_run: int
    shards_skipped: int
    kept: int
    problems_path: str
    seconds: float

    def table(self) -> str:
        return yield_table(self.counts, seeds_total=self.seeds)

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["counts"] = self.counts.to_dict()
        data["stages"] = list(STAGES)
        return data


def agent_model_name(config: RunConfig) -> str:
    """The model the agents and the answers run on: the teacher's, or the student's when the teacher is symbolic."""
    return config.teacher.model if config.teacher.backend in ("vllm", "openai") else config.student.model


def start_clients(config: RunConfig):
    """A client factory for the workers, and the engine pool it sends to (None for an HTTP endpoint)."""
    from orca_ray.agents.clients import ClientFactory

    if config.teacher.backend == "openai":
        return ClientFactory("openai", teacher=config.teacher), None
    from orca_ray.distributed.engine_pool import EnginePool
    from orca_ray.distributed.resources import student_engine_spec, teacher_engine_spec
    from orca_ray.models import prepare_model

    model_dir = str(prepare_model(agent_model_name(config)))
    if config.teacher.backend == "vllm":
        spec, resources, role = teacher_engine_spec(config, model_dir), config.resources.teacher, "teacher"
    else:  # the symbolic teacher writes no text: the agents run on the student
        spec, resources, role = student_engine_spec(config, model_dir), config.resources.sampler, "student"
    spec = dataclasses.replace(spec, enable_lora=False)  # agents run on the base weights
    pool = EnginePool.start(role, spec, resources)
    return ClientFactory("engine", engines=tuple(pool.handles), context_tokens=spec.max_model_len), pool


def _raise_failure(shard: int, failure: str) -> None:
    """Raise in the driver the user-facing error a worker sent back for a shard."""
    from orca_ray import errors

    name, message = json.loads(failure)
    error_class = getattr(errors, name, OrcaRayError)
    raise error_class(f"synthesis shard {shard}: {message}")


def _rows(batches):
    """Rows of each output batch as it arrives (no prefetching: a finished shard is reported at once)."""
    for batch in batches:
        columns = list(batch)
        yield from (dict(zip(columns, values, strict=True)) for values in zip(*batch.values(), strict=True))


def _run_pending(config, out_dir, shards, pending, settings, client_factory, on_shard_done, progress) -> None:
    import ray
    from tqdm import tqdm

    from orca_ray.distributed.cluster import init_ray
    from orca_ray.distributed.resources import synthesis_stage_plan

    init_ray(config.resources)
    pool = None
    context = ray.data.DataContext.get_current()
    ray_bars = context.enable_progress_bars
    try:
        if client_factory is None:
            client_factory, pool = start_clients(config)
        plan = synthesis_stage_plan(config, len(pending))
        context.enable_progress_bars = False  # one bar, ours, counting shards (a dataset copies the context)
        items = [
            {
                "shard": i,
                "seeds": json.dumps([dataclasses.asdict(s) for s in shards[i]]),
                "fingerprint": _fingerprint(shards[i], settings),
            }
            for i in pending
        ]
        dataset = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
            SynthesisWorker,
            batch_size=1,
            fn_constructor_kwargs=dict(
                config_json=config.model_dump_json(),
                client_factory=client_factory,
                out_dir=str(out_dir),
                conversations=plan["conversations_per_worker"],
                settings=settings,
            ),
            **plan["options"],
        )
        rows = 0
        with tqdm(total=len(pending), desc="synthesis", unit="shard", disable=not progress) as bar:
            for done in _rows(dataset.iter_batches(batch_size=None, prefetch_batches=0)):
                if done["failure"]:
                    _raise_failure(int(done["shard"]), done["failure"])
                rows += int(done["rows"])
                bar.update(1)
                bar.set_postfix(rows=rows)
                if on_shard_done is not None:
                    on_shard_done(int(done["shard"]))
    finally:
        context.enable_progress_bars = ray_bars
        if pool is not None:
            pool.shutdown()


def finalize(config: RunConfig, out_dir: Path, seeds: list[Problem], shards: int) -> tuple[YieldCounts, dict, int]:
    """Every shard's rows -> near-duplicates (of a seed or an earlier row) and evaluation overlap removed ->
    problems.parquet. Returns the whole run's counts, errors and the number kept."""
    counts, errors, rows = YieldCounts(), {}, []
    for index in range(shards):
        parquet, sidecar = shard_paths(out_dir, index)
        record = json.loads(sidecar.read_text())
        counts = counts.merge(YieldCounts.from_dict(record["counts"]))
        for agent, n in record["errors"].items():
            errors[agent] = errors.get(agent, 0) + n
        rows += read_rows(parquet, Problem)
    final = drop_duplicates_and_overlap(
        [r.question for r in rows],
        [s.question for s in seeds],
        load_eval_questions(config, out_dir / "quarantine"),
        near_duplicate_threshold=config.synthesis.near_duplicate_threshold,
        ngram=config.data.decontamination_ngram,
        overlap_threshold=config.data.decontamination_threshold,
    )
    for i in final.deduplicated:
        counts.add("deduplicated", rows[i].family or "")
    kept = [rows[i] for i in final.kept]
    for row in kept:
        counts.add("kept", row.family or "")
    write_rows(out_dir / PROBLEMS_FILE, kept, Problem)
    return counts, errors, len(kept)


def run_synthesis(
    config: RunConfig,
    out_dir: str | Path | None = None,
    *,
    seeds: list[Problem] | None = None,
    client_factory: Callable | None = None,
    on_shard_done: Callable[[int], None] | None = None,
    progress: bool = True,
) -> SynthesisSummary:
    """Synthesize from seed problems into `out_dir` (default <output_dir>/<run_id or name>/synthesis), skipping
    finished shards. Starts or joins Ray only when a shard is left to do; the caller shuts Ray down.

    `seeds` replaces reading data.train (the loop passes its decontaminated training problems);
    `client_factory(temperature=, max_tokens=)` replaces the configured model clients (tests: scripted replies);
    `on_shard_done(index)` is called in the driver after each shard is written."""
    from orca_ray.errors import DataError

    started = time.perf_counter()
    out = Path(out_dir) if out_dir else default_output_dir(config)
    seeds = select_seeds(config, seeds) if seeds is not None else load_seeds(config, out / "quarantine")
    if not seeds:
        raise DataError("data.train gave no seed problems to synthesize from")
    size = config.synthesis.shard_size
    shards = [seeds[i : i + size] for i in range(0, len(seeds), size)]
    settings = shard_settings(config, agent_model_name(config))
    pending = pending_shards(out, shards, settings)
    log.info("synthesis: %d seeds in %d shards, %d to do, output %s", len(seeds), len(shards), len(pending), out)
    if pending and client_factory is None and config.teacher.backend == "openai":
        from orca_ray.distributed.teacher import check_endpoint

        check_endpoint(config.teacher)  # before Ray starts: a dead endpoint stops the run here, in one line
    if pending:
        _run_pending(config, out, shards, pending, settings, client_factory, on_shard_done, progress)
    counts, errors, kept = finalize(config, out, seeds, len(shards))
    summary = SynthesisSummary(
        out_dir=str(out), seeds=len(seeds), counts=counts, errors=errors, shards=len(shards),
        shards_run=len(pending), shards_skipped=len(shards) - len(pending), kept=kept,
        problems_path=str(out / PROBLEMS_FILE), seconds=round(time.perf_counter() - started, 1),
    )  # fmt: skip
    tmp = out / f".{SUMMARY_FILE}.tmp"
    tmp.write_text(json.dumps(summary.to_dict(), indent=1))
    tmp.replace(out / SUMMARY_FILE)
    return summary


def step_synthesis(run, problems: list[Problem], client_factory: Callable | None = None) -> dict:
    """The loop's synthesis step (`run`: its Run): the run's training problems are the seeds, and the training set
    becomes those problems plus the kept synthesized ones, written to <run>/synthesis/train.parquet."""
    config = run.config.model_copy(update={"run_id": run.run_id})  # rows carry the run's id
    summary = run_synthesis(config, run.root / "synthesis", seeds=problems, client_factory=client_factory)
    from orca_ray import console

    console.story().info("synthesis yield per agent:\n%s", summary.table())  # on the terminal: what each agent kept
    kept = read_rows(summary.problems_path, Problem)
    train = write_rows(run.root / "synthesis" / "train.parquet", list(problems) + kept, Problem)
    counts = {f"synthesis_{stage}": summary.counts.total(stage) for stage in STAGES}
    return {
        "problems": str(train),
        "summary": str(Path(summary.out_dir) / SUMMARY_FILE),
        "counts": counts | {"synthesis_seeds": summary.seeds, "problems": len(problems) + len(kept)},
    }
