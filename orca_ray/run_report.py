"""A run directory's report: reads what the run wrote (manifest, evaluation and problem Parquet, the learner's
train_result.json, the run log's spans) and writes report.json, report.html and its figures beside them. Used at
the end of a run and by `orca-ray report RUN_DIR`; needs neither Ray nor a model.

Layout read (written by orca_ray/distributed/loop.py and practice_round.py):
    manifest.json                        steps, their counts, timings and learner metrics
    config.yaml                          the resolved config
    problems/eval/<set>.parquet          evaluation problems (their family)
    eval/<stage>/<set>.parquet           one greedy verdict per problem and stage
    sft/train_result.json, iter-<k>/train/train_result.json   the learner's per-step history
    metrics*.jsonl                       the run log: span records for the timeline
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path

import yaml

from orca_ray.core import report as content
from orca_ray.core.manifest import Manifest
from orca_ray.core.report_html import render_html
from orca_ray.errors import ConfigError
from orca_ray.schemas import Problem, Verdict, read_rows

log = logging.getLogger(__name__)

RESULT_FILE = "train_result.json"  # orca_ray.distributed.learner.RESULT_FILE (not imported: it pulls in Ray)


def config_summary(tree: dict) -> dict:
    """The few settings the report's header shows, from a config as a plain dict (a run's config.yaml)."""
    return {
        "student": _dig(tree, ("student", "model")),
        "teacher": _dig(tree, ("teacher", "backend")),
        "method": _dig(tree, ("training", "preference", "method")),
        "iterations": _dig(tree, ("loop", "iterations")),
        "mode": _dig(tree, ("loop", "mode")),
    }


def _dig(tree: dict, keys: tuple[str, ...]):
    for key in keys:
        tree = tree.get(key, {}) if isinstance(tree, dict) else {}
    return tree if tree != {} else None


def _train_dir(root: Path, step: str) -> Path:
    return root / "sft" if step == "sft" else root / step / "train"


def _histories(root: Path, stages: list[tuple[str, dict]]) -> dict[str, list[dict]]:
    out = {}
    for name, info in stages:
        file = _train_dir(root, name) / RESULT_FILE
        if "policy" in info and file.is_file():
            out[name] = json.loads(file.read_text()).get("history", [])
    return out


def _eval_rows(root: Path, evals: list[dict]) -> tuple[list[dict], list[dict]]:
    """(per-family accuracy, samples) from each evaluation's per-problem rows."""
    families, samples, family_of = [], [], {}
    for e in evals:
        stage, name = e["stage"], e["set"]
        if name not in family_of:
            problems_file = root / "problems" / "eval" / f"{name}.parquet"
            problems = read_rows(problems_file, Problem) if problems_file.is_file() else []
            family_of[name] = {p.id: p.family for p in problems if p.family}
        rows_file = root / "eval" / stage / f"{name}.parquet"
        if not rows_file.is_file():
            continue
        verdicts = [asdict(v) for v in read_rows(rows_file, Verdict)]
        if family_of[name]:
            families += content.family_accuracy(stage, name, verdicts, family_of[name])
        samples += content.pick_samples(stage, name, verdicts)
    return families, samples


def _spans(root: Path) -> list[dict]:
    from orca_ray.distributed.telemetry import read_metrics  # imports no framework

    return [r for r in read_metrics(root) if "span" in r]


def step_rates(root: Path, step: str) -> dict:
    """The throughput row (orca_ray.core.report.throughput) of one run step, from the spans recorded so far."""
    spans = content.timeline(_spans(root))["spans"]
    return next((row for row in content.throughput(spans, []) if row["step"] == step), {})


def write_run_report(root: Path, config_tree: dict | None = None) -> dict:
    """Write report.json, report.html and the figures (accuracy.png, families.png, training.png, timeline.png)
    under the run directory `root`; returns the report. `config_tree`: the run's config as a dict (default: its
    config.yaml)."""
    from orca_ray.report_plot import plot_report

    root = Path(root)
    if not (root / "manifest.json").is_file():
        raise ConfigError(f"{root}: not a run directory (no manifest.json)")
    if config_tree is None:
        config_file = root / "config.yaml"
        config_tree = yaml.safe_load(config_file.read_text()) if config_file.is_file() else {}
    manifest = Manifest(root / "manifest.json")
    evals = [s for name, info in manifest.stages() if name.startswith("eval:") for s in info["summaries"]]
    stages = [(n, i) for n, i in manifest.stages() if not n.startswith("eval:")]
    families, samples = _eval_rows(root, evals)
    report = content.build_report(
        root.name,
        evals,
        stages,
        config_summary(config_tree),
        families=families,
        histories=_histories(root, stages),
        spans=_spans(root),
        samples=samples,
    )
    summary_file = root / "synthesis" / "summary.json"  # written by distributed/synthesis.py
    if summary_file.is_file():
        report["synthesis"] = json.loads(summary_file.read_text())
    (root / "report.json").write_text(json.dumps(report, indent=2))
    figures = plot_report(report, root)
    (root / "report.html").write_text(render_html(report, figures))
    log.info("report: %s (figures: %s)", root / "report.html", ", ".join(figures) or "none")
    return report
