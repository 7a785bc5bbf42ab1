"""Ray Data stages of a practice round: teacher solver -> student sampler -> judge -> preference rows.

The unit that flows is a shard (a fixed group of problems): each stage maps one shard record to the next, so
every shard's samples, verdicts and preferences are written together, a finished shard is never redone on
resume, and the learner starts on the first shard while later ones are still being sampled. The stages are thin:
prompts, parsing, judging and preference building are the pure functions of orca_ray.core; generation happens in
the long-lived engine actors of orca_ray.distributed.engine_pool, reached through their handles.

The stages run as Ray Data tasks (`solve_shard`, `sample_shard`, `judge_shard`), not actor pools: a stage holds
nothing worth keeping between shards, and an actor pool is started afresh for every dataset, so every round paid
for new worker processes importing orca_ray while the engine generated beside them (measured, tiny model: a round
of one shard took 25 to 30 s through actor pools against 18 to 19 s sent straight to the engine). Tasks run on
Ray's pooled workers, which stay warm across rounds.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path

from orca_ray.core import practice, round_files
from orca_ray.core.preferences import add_counts
from orca_ray.core.prompts import student_messages, teacher_messages
from orca_ray.core.stage_settings import Judging, Preferences, Sampling
from orca_ray.distributed.policy_versions import AdapterTransport, RoundVersions, deliver_adapter
from orca_ray.schemas import Lineage, Problem, Sample, Verdict, row_from_dict

log = logging.getLogger(__name__)

# Shard records carry their rows as JSON text: nested rows whose optional fields are all None in one shard would
# otherwise give Arrow blocks with incompatible inferred types.
PROBLEMS = "problems_json"
SAMPLES = "samples_json"


def shard_records(shards: list[list[Problem]], indices: list[int]) -> list[dict]:
    return [
        {"shard": index, PROBLEMS: json.dumps([dataclasses.asdict(p) for p in problems])}
        for index, problems in zip(indices, shards, strict=True)
    ]


def _load(batch: dict, column: str, row_type: type) -> list:
    return [row_from_dict(d, row_type) for d in json.loads(batch[column][0])]


def _dump(rows: list) -> str:
    return json.dumps([dataclasses.asdict(r) for r in rows])


def _stage_logger(stage: str, metrics_dir: str | None, run_id: str):
    """A metrics logger for one stage worker: its own JSONL file under the run (when given), Ray metrics, and
    DEBUG-level log lines (shard-level lines from every worker would drown the driver's console)."""
    import logging as _logging
    import os

    from orca_ray.distributed.telemetry import MetricsLogger

    return MetricsLogger(metrics_dir, run_id or "", source=f"{stage}-{os.getpid()}", log_level=_logging.DEBUG)


# ---------------------------------------------------------------- stages


class TeacherSolveStage:
    """Fills in the teacher's reference solution and answer where a problem lacks them (LLM teachers only).

    A problem that already has a reference answer keeps it: the teacher's solution is used as its demonstration
    only when the teacher reaches that same answer; a problem with no answer takes the teacher's."""

    def __init__(self, teacher_client, sampling: Sampling):
        self.teacher = teacher_client
        self.sampling = sampling.fields()

    def __call__(self, batch: dict) -> dict:
        from orca_ray.core.answers import answers_match, extract_final_answer

        problems = _load(batch, PROBLEMS, Problem)
        todo = [p for p in problems if not (p.solution and p.answer)]
        replies = self.teacher.chat([teacher_messages(p.question) for p in todo], self.sampling) if todo else []
        solved = {}
        for problem, (reply, *_) in zip(todo, replies, strict=True):
            found = extract_final_answer(reply)
            if problem.answer is None and found is not None:
                solved[problem.id] = dataclasses.replace(problem, answer=found, solution=reply)
            elif problem.answer is not None and found is not None and answers_match(found, problem.answer):
                solved[problem.id] = dataclasses.replace(problem, solution=reply)
        out = [solved.get(p.id, p) for p in problems]
        return {"shard": batch["shard"], PROBLEMS: [_dump(out)]}


class SampleStage:
    """The student sampler: n attempts per problem from an engine actor, with the current adapter."""

    def __init__(
        self,
        engine_handles: list,
        sampling: Sampling,
        versions: RoundVersions,
        lineage: Lineage,  # of the samples: run id, iteration, sampling seed
        system_prompt: str | None = None,
        metrics_dir: str | None = None,
        adapter_transport: AdapterTransport = AdapterTransport(),
    ):
        self.engines = engine_handles
        self.adapter_transport = adapter_transport
        self.sampling = sampling.fields()  # the engines take vLLM SamplingParams fields
        self.versions = versions
        self.lineage = lineage
        self.system_prompt = system_prompt
        self.metrics = _stage_logger("sampler", metrics_dir, lineage.run_id)

    def __call__(self, batch: dict) -> dict:
        import ray

        from orca_ray.core.metrics import MetricNames, stage_metrics

        problems = _load(batch, PROBLEMS, Problem)
        # Shards spread over the engines in turn; each engine batches whatever shards reach it at once.
        engine = self.engines[int(batch["shard"][0]) % len(self.engines)]
        # Between shards: a newly published adapter is picked up (async: once it is this shard's turn)
        adapter, version = self.versions.resolve(int(batch["shard"][0]))
        shipped, arrival = deliver_adapter(self.adapter_transport, adapter, self.engines)
        if arrival:
            self.metrics.log(arrival | {MetricNames.POLICY_VERSION: version})
        conversations = [student_messages(p.question, self.system_prompt) for p in problems]
        requested = len(problems) * self.sampling["n"]
        self.metrics.log({MetricNames.SAMPLER_IN_FLIGHT: requested, MetricNames.POLICY_VERSION: version})
        started, wall_started = time.perf_counter(), time.time()
        results = ray.get(engine.chat.remote(conversations, self.sampling, shipped))
        seconds = time.perf_counter() - started
        completions = [[(c.text, c.num_tokens, c.finish_reason) for c in attempts] for attempts in results]
        lineage = self.lineage
        samples = practice.sample_rows(
            problems,
            completions,
            adapter=adapter,
            policy_version=version,
            run_id=lineage.run_id,
            iteration=lineage.iteration,
            seed=lineage.seed,
        )
        tokens = sum(s.num_tokens for s in samples)
        self.metrics.log(
            stage_metrics("sampler", rows=len(samples), tokens=tokens, seconds=seconds)
            | {MetricNames.SAMPLER_BATCH_SECONDS: seconds}
        )
        shard = practice.shard_name(int(batch["shard"][0]))
        self.metrics.span(
            "sampler", wall_started, label=shard, rows=len(samples), tokens=tokens, problems=len(problems)
        )
        log.debug("shard %s: %d samples, %d tokens in %.1f s", shard, len(samples), tokens, seconds)
        return {
            "shard": batch["shard"],
            PROBLEMS: batch[PROBLEMS],
            SAMPLES: [_dump(samples)],
            "sample_tokens": [tokens],
            "sample_seconds": [seconds],
        }


class JudgeStage:
    """Rules first; the teacher LLM only for rows the rules leave undecidable, or the configured audit share.

    Writes the shard's verdicts (and, for practice, its preference rows) and emits the flat rows downstream."""

    def __init__(
        self,
        judging: Judging,
        teacher_client=None,
        out_dir: str | None = None,
        emit: str = "verdicts",
        preferences: Preferences | None = None,
        metrics_dir: str | None = None,
        run_id: str = "",
    ):
        self.judging = judging
        self.teacher = teacher_client
        self.out_dir = Path(out_dir) if out_dir else None
        self.emit = emit
        self.preferences = preferences  # emit="preferences": how the shard's rows are built
        self.metrics = _stage_logger("judge", metrics_dir, run_id)

    def _judge(self, problems: list[Problem], samples: list[Sample]) -> list[Verdict]:
        from orca_ray.core import judge

        by_id = {p.id: p for p in problems}
        kw = {"use_math_verify": self.judging.use_math_verify, "max_chars": self.judging.max_response_chars}

        def row(sample: Sample, llm_verdict: str | None = None) -> Verdict:
            problem = by_id[sample.problem_id]
            return judge.judge_verdict_row(sample, problem.answer, problem.solution, llm_verdict=llm_verdict, **kw)

        verdicts = [row(s) for s in samples]
        if self.teacher is None or not self.judging.llm_tier:
            return verdicts
        # The LLM tier: rows the rules left undecidable, and the audit share, when a reference solution exists.
        audit = self.judging.audit_share
        routed = [
            i
            for i, v in enumerate(verdicts)
            if by_id[v.problem_id].solution and judge.needs_llm(v, f"{v.problem_id}:{v.sample_index}", audit)
        ]
        if routed:
            conversations = [
                judge.grading_messages(samples[i].question, by_id[samples[i].problem_id].solution, samples[i].response)
                for i in routed
            ]
            replies = self.teacher.chat(conversations, self.judging.grading.fields())
            for i, (reply, *_) in zip(routed, replies, strict=True):
                verdicts[i] = row(samples[i], judge.parse_grading_reply(reply))
        return verdicts

    def _log_judged(self, verdicts: list[Verdict]) -> None:
        from orca_ray.core.judge import judge_metrics
        from orca_ray.core.metrics import judge_rates

        counts = judge_metrics(verdicts)
        self.metrics.log(counts | judge_rates(counts))

    def __call__(self, batch: dict):
        from orca_ray.core.metrics import MetricNames
        from orca_ray.schemas import rows_to_table

        started = time.time()
        shard = int(batch["shard"][0])
        problems = _load(batch, PROBLEMS, Problem)
        verdicts = self._judge(problems, _load(batch, SAMPLES, Sample))
        self._log_judged(verdicts)
        name = practice.shard_name(shard)
        self.metrics.span("judge", started, label=name, rows=len(verdicts), problems=len(problems))
        if self.emit == "verdicts":
            if self.out_dir:
                round_files.write_verdicts(self.out_dir, shard, verdicts)
            return rows_to_table(verdicts, Verdict)
        rows, counts = self.preferences.build(problems, verdicts)
        row_type = self.preferences.row_type
        counts = add_counts(counts, {f"judge_{k}": v for k, v in practice.verdict_counts(verdicts).items()})
        counts["sample_tokens"] = int(batch["sample_tokens"][0])
        counts["sample_seconds_x1000"] = int(1000 * float(batch["sample_seconds"][0]))
        built = MetricNames.KTO_EXAMPLES_BUILT if self.preferences.method == "kto" else MetricNames.PAIRS_BUILT
        self.metrics.log({built: len(rows)})
        round_files.write_shard(self.out_dir, shard, rows, row_type, counts, verdicts)  # its marker written last
        return rows_to_table(rows, row_type)


# ---------------------------------------------------------------- tasks
# One shard through one stage, as a Ray Data task: `ds.map_batches(sample_shard, fn_kwargs={...})`, the keywords
# being the stage's constructor's. A stage is built per shard: its constructor only stores its settings. Each
# stage has its own function so that progress bars and the dashboard name it.


def solve_shard(batch: dict, **settings) -> dict:
    return TeacherSolveStage(**settings)(batch)


def sample_shard(batch: dict, **settings) -> dict:
    return SampleStage(**settings)(batch)


def judge_shard(batch: dict, **settings):
    return JudgeStage(**settings)(batch)
