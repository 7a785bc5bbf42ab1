"""The Orca-Math loop: problems (and synthesis), SFT, then N rounds of practice and feedback, each evaluated.

Each step is a named function that reads what earlier steps recorded in the run manifest and records its own
outputs there when it finishes, so `--resume` continues from the last finished step (and, inside a practice
round, from the last finished shard). Everything a step writes lives under `runs/<run-id>/`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from pathlib import Path

import yaml

from orca_ray import console
from orca_ray.config import RunConfig, dump_config
from orca_ray.core import config_changes, practice
from orca_ray.core.manifest import Manifest, policy_of, trained_entry
from orca_ray.core.preferences import add_counts
from orca_ray.core.story import earlier_line, step_line
from orca_ray.errors import ConfigError
from orca_ray.progress import NoProgress
from orca_ray.schemas import Problem, SFTExample, read_rows, write_rows

log = logging.getLogger(__name__)


@dataclasses.dataclass
class Run:
    """A run directory and its manifest."""

    config: RunConfig
    run_id: str
    root: Path
    manifest: Manifest
    metrics: object = None  # the driver's MetricsLogger
    config_id: str | None = None  # the steps started now record it: configs/<config_id>.yaml
    progress: object = dataclasses.field(default_factory=NoProgress)  # the live display of the step under way

    @classmethod
    def open(cls, config: RunConfig, run_id: str | None, resume: bool, rerun_changed: bool = False) -> Run:
        """The run directory, new or (with `resume`) an existing one. On resume the config is compared with the
        one each step already run ran under (core.config_changes): a change to a key such a step depends on stops
        here, naming the keys, both values and the steps; with `rerun_changed` the first such step and every
        step after it run again (their outputs are moved under superseded/)."""
        if rerun_changed and not resume:
            raise ConfigError("--rerun-changed only applies with --resume")
        run_id = run_id or config.run_id or f"{config.name}-{time.strftime('%Y%m%d-%H%M%S')}"
        root = Path(config.output_dir).expanduser() / run_id
        if resume and not (root / "manifest.json").is_file():
            raise ConfigError(f"--resume: no run to resume at {root} (run_id '{run_id}')")
        if not resume and (root / "manifest.json").is_file():
            raise ConfigError(f"{root} already holds a run: pass --resume to continue it, or choose another run_id")
        root.mkdir(parents=True, exist_ok=True)
        manifest = Manifest(root / "manifest.json")
        if resume:
            _check_changed_config(root, manifest, config, rerun_changed)
        config_id = _record_config(root, manifest, config)
        log.info("run %s in %s%s", run_id, root, " (resuming)" if resume else "")
        from orca_ray.distributed.telemetry import MetricsLogger

        return cls(config, run_id, root, manifest, MetricsLogger(root, run_id), config_id)

    def step(self, name: str, work, *args) -> dict:
        """Run `work(*args) -> outputs` unless the manifest says `name` is done; return its recorded outputs."""
        if self.manifest.is_done(name):
            log.info("step %s: done earlier, reusing its outputs", name)
            console.story().info(earlier_line(name, self.manifest.get(name), self.config.training.preference.method))
            return self.manifest.get(name)
        log.info("step %s: starting", name)
        self.manifest.mark_started(name, config=self.config_id)
        started, wall_started = time.perf_counter(), time.time()
        with self._progress(name):
            outputs = work(*args)
        entry = self.manifest.mark_done(name, outputs, time.perf_counter() - started)
        self.metrics.span("step", wall_started, label=name)  # the report's timeline
        log.info("step %s: done in %.1f s", name, entry["seconds"])
        console.story().info(step_line(name, entry, self.config.training.preference.method))
        self._report(name, entry)
        return entry

    def _progress(self, name: str):
        from orca_ray.progress import StepProgress

        self.progress = StepProgress(self.root, name, trains=name == "sft" or name.startswith("iter-"))
        return self.progress

    def _report(self, name: str, entry: dict) -> None:
        """The driver's metrics of a finished step (core.report.step_metrics), at the stage index: 0 for the base
        model, 1 after SFT, k+1 after iteration k (the x axis of the experiment trackers)."""
        from orca_ray.core.report import step_metrics
        from orca_ray.run_report import step_rates

        index = sum("policy" in info for _, info in self.manifest.stages())
        for report in step_metrics(name, entry, step_rates(self.root, name)):
            self.metrics.log(report["values"], step=index, label=report["label"], export=report["export"])


# ---------------------------------------------------------------- the config each step ran under

CONFIGS_DIR = "configs"  # configs/<id>.yaml: every config a step of the run ran under; config.yaml: the latest


def _keep_config(root: Path, text: str) -> str:
    config_id = hashlib.sha256(text.encode()).hexdigest()[:12]
    kept = root / CONFIGS_DIR / f"{config_id}.yaml"
    if not kept.is_file():
        kept.parent.mkdir(parents=True, exist_ok=True)
        kept.write_text(text)
    return config_id


def _record_config(root: Path, manifest: Manifest, config: RunConfig) -> str:
    """Keep the config as configs/<id>.yaml (id: a hash of its text) and as config.yaml; return the id. Steps of
    a run from before configs/ was kept ran under its config.yaml: that one is kept first, and named in their
    manifest entries. The YAML names variables that hold keys, never the keys."""
    legacy = [s for s in manifest.recorded() if "config" not in manifest.get(s)]
    if legacy and (root / "config.yaml").is_file():
        manifest.set_config(legacy, _keep_config(root, (root / "config.yaml").read_text()))
    text = dump_config(config)
    (root / "config.yaml").write_text(text)
    return _keep_config(root, text)


def _config_tree(path: Path) -> dict:
    """A recorded config as a tree with today's defaults filled in (a key added to the code since is not a
    change); as written when it no longer validates (a key removed since)."""
    tree = yaml.safe_load(path.read_text()) or {}
    try:
        return RunConfig.model_validate(tree).model_dump(mode="json")
    except ValueError:
        return tree


def _step_configs(root: Path, manifest: Manifest) -> list[tuple[str, dict]]:
    """(step, the config tree it ran under) for every step that started, in order. Steps recorded before the
    runs kept configs/ ran under config.yaml."""
    trees: dict[str, dict] = {}
    recorded = []
    for step in manifest.recorded():
        config_id = manifest.get(step).get("config")
        path = root / CONFIGS_DIR / f"{config_id}.yaml" if config_id else root / "config.yaml"
        if str(path) not in trees:
            trees[str(path)] = _config_tree(path) if path.is_file() else {}
        recorded.append((step, trees[str(path)]))
    return recorded


def _step_dir(root: Path, step: str) -> Path:
    return root / "eval" / step.removeprefix("eval:") if step.startswith("eval:") else root / step


def _check_changed_config(root: Path, manifest: Manifest, config: RunConfig, rerun_changed: bool) -> None:
    recorded = _step_configs(root, manifest)
    new = config.model_dump(mode="json")
    for key, (old, now) in config_changes.free_changes(recorded, new).items():
        log.info("--resume: %s changed from %r to %r; no step run so far depends on it", key, old, now)
    changes = config_changes.step_changes(recorded, new)
    if not changes:
        return
    steps = manifest.recorded()
    first = min(steps.index(c.step) for c in changes)
    again = steps[first:]
    if not rerun_changed:
        raise ConfigError(
            f"--resume: the config changes keys that steps already run depended on:\n"
            f"{config_changes.describe(changes)}\n"
            f"Resume with the recorded values (in {root / 'config.yaml'}), or pass --rerun-changed to run again "
            f"from step {steps[first]} ({', '.join(again)}), or start another run id."
        )
    aside = root / "superseded" / time.strftime("%Y%m%d-%H%M%S")
    for step in again:
        if (out := _step_dir(root, step)).exists():
            aside.mkdir(parents=True, exist_ok=True)
            out.rename(aside / step.replace(":", "-"))
    manifest.forget(again)
    log.warning(
        "--resume --rerun-changed: the config changed\n%s\nsteps %s run again; their earlier outputs are in %s",
        config_changes.describe(changes),
        ", ".join(again),
        aside,
    )


# ---------------------------------------------------------------- problems


def step_problems(run: Run) -> dict:
    """Read or generate the training problems and evaluation sets; decontaminate; write them as Parquet."""
    from orca_ray.core.text_overlap import decontaminate
    from orca_ray.data.readers import read_problems

    config, out = run.config, run.root / "problems"
    counts: dict[str, int] = {}
    eval_files = {}
    eval_questions: list[str] = []
    for name in eval_set_names(config):
        result = read_problems(config.data.eval[name], on_bad_row=config.data.on_bad_row, quarantine_dir=out)
        counts |= {f"eval_{name}_read": result.read, f"eval_{name}_quarantined": result.quarantined}
        eval_files[name] = str(write_rows(out / "eval" / f"{name}.parquet", result.problems, Problem))
        eval_questions += [p.question for p in result.problems]
    train: list[Problem] = []
    for index, source in enumerate(config.data.train):
        result = read_problems(source, on_bad_row=config.data.on_bad_row, quarantine_dir=out)
        log.info("train source %d (%s): %s", index, source.kind, result.summary())
        counts = add_counts(counts, {"train_read": result.read, "train_quarantined": result.quarantined})
        train += _unique_ids(result.problems, index, {p.id for p in train})
    if config.data.decontaminate and eval_questions:
        train, removed = decontaminate(
            train, eval_questions, config.data.decontamination_ngram, config.data.decontamination_threshold
        )
        counts["train_decontaminated"] = len(removed)
    counts["problems"] = len(train)
    return {"train": str(write_rows(out / "train.parquet", train, Problem)), "eval": eval_files, "counts": counts}


def _unique_ids(problems: list[Problem], source_index: int, taken: set[str]) -> list[Problem]:
    """Ids from different sources may collide: prefix the later source's ids rather than lose rows."""
    return [dataclasses.replace(p, id=f"s{source_index}-{p.id}") if p.id in taken else p for p in problems]


def eval_set_names(config: RunConfig) -> list[str]:
    names = config.eval.sets if config.eval.sets is not None else list(config.data.eval)
    unknown = [n for n in names if n not in config.data.eval]
    if unknown:
        raise ConfigError(f"eval.sets names {unknown}, which are not in data.eval ({list(config.data.eval)})")
    return names


# ---------------------------------------------------------------- evaluation


def step_evaluate(run: Run, session, stage: str, adapter: str | None, version: int) -> dict:
    from orca_ray.distributed.rounds import evaluate

    eval_files = run.manifest.get("problems")["eval"]
    limit = run.config.eval.limit or None
    sets = {name: read_rows(eval_files[name], Problem)[:limit] for name in eval_set_names(run.config)}
    run.progress.expect(sum(len(problems) for problems in sets.values()))
    summaries = []
    for name, problems in sets.items():
        summary = evaluate(session, problems, run.root / "eval" / stage, name, adapter=adapter, version=version)
        log.info(
            "eval %s on %s: %.1f%% (%d/%d)",
            stage,
            name,
            100 * summary["accuracy"],
            summary["correct"],
            summary["problems"],
        )
        summaries.append(summary | {"stage": stage})
    return {"summaries": summaries}


# ---------------------------------------------------------------- training steps


def step_sft(run: Run, session, problems: list[Problem]) -> dict:
    """Teach by demonstration: fine-tune on the teacher's solutions (loss on the solution tokens)."""
    from orca_ray.core.preferences import build_sft_examples
    from orca_ray.distributed.learner import train_policy

    examples = [dataclasses.replace(e, run_id=run.run_id) for e in build_sft_examples(problems)]
    write_rows(run.root / "sft" / "data.parquet", examples, SFTExample)
    started = time.time()
    result = train_policy(
        run.config,
        "sft",
        examples,
        base_model_dir=session.student_model_dir,
        init_adapter=run.config.student.adapter,
        output_dir=run.root / "sft",
        resume=True,
    )
    run.metrics.span("learner", started, label="sft", steps=result.steps)
    return trained_entry(result, {"problems": len(problems), "sft_examples": len(examples)})


def step_iteration(run: Run, session, problems: list[Problem], k: int, adapter: str | None, version: int) -> dict:
    """One round of practice and feedback: sample, judge, build preferences, train (streamed or not)."""
    from orca_ray.distributed.practice_round import practice_round

    chosen = practice.iteration_slice(problems, k, run.config.loop.problems_per_iteration)
    run.progress.expect(len(chosen))
    return practice_round(run, session, chosen, k, adapter, version)


# ---------------------------------------------------------------- the whole run


def run_pipeline(
    config: RunConfig, run_id: str | None = None, resume: bool = False, rerun_changed: bool = False
) -> Path:
    """Run (or resume) the whole loop and write the report; returns the run directory. See Run.open for a
    resume with a changed config."""
    from orca_ray.distributed.run_logs import capture

    run = Run.open(config, run_id, resume, rerun_changed)
    with capture(run.root) as logs:
        console.story().info(
            "run %s%s: %s (logs in %s)", run.run_id, " resumed" if resume else "", run.root, logs.directory
        )
        return _run_steps(run)


def _run_steps(run: Run) -> Path:
    """Every step of the loop in order (a step the manifest has done is skipped), then the report."""
    from orca_ray.distributed.rounds import open_session
    from orca_ray.models import prepare_model

    config = run.config
    tracking = _start_tracking(run)
    entry = run.step("problems", step_problems, run)
    sft = config.training.sft
    split = sft.enabled and sft.max_problems is not None
    try:
        demonstrations, practice_set = practice.split_for_practice(
            read_rows(entry["train"], Problem), sft.max_problems, sft.enabled
        )
    except ValueError as err:
        raise ConfigError(str(err)) from None
    if config.synthesis.enabled:  # expands what SFT demonstrates (and, without a split, what is practised)
        from orca_ray.distributed.synthesis import step_synthesis

        synthesized = read_rows(run.step("synthesis", step_synthesis, run, demonstrations)["problems"], Problem)
        practice_set = practice_set if split else synthesized
        demonstrations = synthesized
    model_dir = str(prepare_model(config.student.model))
    adapter, version = config.student.adapter, 0
    with open_session(config, model_dir) as session:
        session.metrics_dir, session.run_id = str(run.root), run.run_id
        if config.eval.after_every_stage:
            run.step("eval:base", step_evaluate, run, session, "base", adapter, version)
        if config.training.sft.enabled:
            adapter, full = policy_of(run.step("sft", step_sft, run, session, demonstrations))
            version += 1
            _follow_full_model(session, full)
            run.step("eval:sft", step_evaluate, run, session, "sft", adapter, version)
        for k in range(1, config.loop.iterations + 1):
            entry = run.step(f"iter-{k}", step_iteration, run, session, practice_set, k, adapter, version)
            adapter, full = policy_of(entry)
            version = entry.get("policy_version", version + 1)
            _follow_full_model(session, full)
            if config.eval.after_every_stage or k == config.loop.iterations:
                run.step(f"eval:iter-{k}", step_evaluate, run, session, f"iter-{k}", adapter, version)
    write_report(run)
    tracking.close()
    return run.root


def _start_tracking(run: Run):
    """The driver's experiment trackers (config `tracking`), fed by the run's MetricsLogger."""
    from orca_ray.distributed.tracking import DriverTracking

    tracking = DriverTracking(run.config, run.root, run.run_id)
    run.metrics.sinks.append(tracking)
    return tracking


def _follow_full_model(session, full_model_dir: str | None) -> None:
    if full_model_dir and full_model_dir != session.student_model_dir:
        session.restart_student(full_model_dir)


def write_report(run: Run) -> dict:
    """report.json, report.html and its figures under the run directory (orca_ray/run_report.py, which
    `orca-ray report RUN_DIR` runs again); the table is printed by the CLI."""
    from orca_ray.run_report import write_run_report

    return write_run_report(run.root, run.config.model_dump(mode="json"))
