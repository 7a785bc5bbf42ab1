"""The run report's content: accuracy per stage and evaluation set with 95% Wilson intervals, accuracy per problem
family, training curves, the timeline of stage spans, throughput per step, a right and a wrong sample per stage,
and per-stage counts and timings. Pure functions over what a run wrote (orca_ray/run_report.py reads the files);
the page itself is orca_ray/core/report_html.py, the figures orca_ray/report_plot.py.

    >>> evals = [{"stage": "base", "set": "heldout", "accuracy": 0.1, "correct": 1, "problems": 10}]
    >>> print(accuracy_table(evals))
    stage  heldout
    -----  ------------------------
    base   10.0% [1.8, 40.4] (1/10)
"""

from __future__ import annotations

from orca_ray.core.metrics import MetricNames, judge_rates, wilson_interval
from orca_ray.schemas import VERDICTS

# Counts shown per stage, in this order, when a stage has them.
COUNT_KEYS = (
    "problems",
    "problems_sampled",
    "samples",
    "judge_correct",
    "judge_incorrect",
    "judge_undecidable",
    "positives",
    "negatives",
    "teacher_fallbacks",
    "all_correct",
    "borrowed",
    "pairs",
    "stale_discarded",
    "train_steps",
)

# The per-step training metrics drawn as curves (TRL's log keys, flattened by the learner: 'rewards/margins' ->
# 'train/rewards_margins'). KTO logs rewards, margins and KL; DPO rewards, margins and accuracies.
CURVE_KEYS = (
    "train/loss",
    "train/rewards_chosen",
    "train/rewards_rejected",
    "train/rewards_margins",
    "train/rewards_accuracies",
    "train/kl",
    "train/learning_rate",
)
# Stages on the timeline, top to bottom: the run's steps, then the workers inside them.
TIMELINE_ROWS = ("step", "sampler", "judge", "learner")
SAMPLE_CHARS = 800  # a shown response is cut here


def eval_sets(evals: list[dict]) -> list[str]:
    return list(dict.fromkeys(e["set"] for e in evals))


def eval_stages(evals: list[dict]) -> list[str]:
    return list(dict.fromkeys(e["stage"] for e in evals))


def with_interval(summary: dict) -> dict:
    """An evaluation summary with its 95% Wilson interval ('low', 'high') added.

    >>> s = with_interval({"correct": 0, "problems": 150, "accuracy": 0.0}); round(s["high"], 3)
    0.025
    """
    low, high = wilson_interval(summary["correct"], summary["problems"])
    return summary | {"low": low, "high": high}


def accuracy_cell(e: dict) -> str:
    """'6.7% [3.7, 11.8] (10/150)': accuracy, its 95% Wilson interval in points, the counts."""
    low, high = wilson_interval(e["correct"], e["problems"])
    return f"{e['accuracy']:.1%} [{100 * low:.1f}, {100 * high:.1f}] ({e['correct']}/{e['problems']})"


def accuracy_matrix(evals: list[dict]) -> dict[str, dict[str, dict]]:
    """{stage: {set: summary}} from a list of evaluation summaries tagged with stage and set."""
    matrix: dict[str, dict[str, dict]] = {}
    for e in evals:
        matrix.setdefault(e["stage"], {})[e["set"]] = e
    return matrix


def accuracy_table(evals: list[dict]) -> str:
    """A plain-text table: one row per stage, one column per evaluation set; each cell the accuracy, its 95% Wilson
    interval in points and the counts."""
    sets, matrix = eval_sets(evals), accuracy_matrix(evals)
    rows = [["stage", *sets]]
    for stage in eval_stages(evals):
        rows.append([stage, *(accuracy_cell(matrix[stage][s]) if s in matrix[stage] else "-" for s in sets)])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def family_accuracy(stage: str, set_name: str, verdicts: list[dict], families: dict[str, str]) -> list[dict]:
    """Accuracy per problem family of one evaluation (one greedy verdict per problem), with Wilson intervals;
    problems without a family count as 'other'.

    >>> rows = [{"problem_id": "a", "verdict": "correct"}, {"problem_id": "b", "verdict": "incorrect"}]
    >>> [(r["family"], r["correct"], r["problems"]) for r in family_accuracy("sft", "heldout", rows, {"a": "shop"})]
    [('other', 0, 1), ('shop', 1, 1)]
    """
    tally: dict[str, list[int]] = {}
    for v in verdicts:
        counts = tally.setdefault(families.get(v["problem_id"]) or "other", [0, 0])
        counts[0] += v["verdict"] == "correct"
        counts[1] += 1
    out = []
    for family, (correct, problems) in sorted(tally.items()):
        row = {"stage": stage, "set": set_name, "family": family, "correct": correct, "problems": problems}
        out.append(with_interval(row | {"accuracy": correct / problems}))
    return out


def training_curves(history: list[dict]) -> list[dict]:
    """The learner's per-step history cut to the curve keys (and 'step'); entries without any are dropped.

    >>> training_curves([{"step": 1, "train/loss": 0.7, "train/grad_norm": 2.0}, {"step": 2, "train/epoch": 1}])
    [{'step': 1, 'train/loss': 0.7}]
    """
    out = []
    for entry in history:
        kept = {k: entry[k] for k in CURVE_KEYS if entry.get(k) is not None}
        if kept and "step" in entry:
            out.append({"step": entry["step"], **kept})
    return out


def busy_seconds(intervals: list[tuple[float, float]]) -> float:
    """Length of the union of (start, end) intervals: the time a stage had at least one shard in work.

    >>> busy_seconds([(0, 2), (1, 3), (5, 6)])
    4.0
    """
    total, reach = 0.0, None
    for start, end in sorted(intervals):
        if reach is None or start > reach:
            total += end - start
            reach = end
        elif end > reach:
            total += end - reach
            reach = end
    return float(total)


def timeline(spans: list[dict]) -> dict:
    """Spans in seconds since the first one began, each worker span tagged with the run step it fell in (that whose
    span holds its midpoint), in the order of TIMELINE_ROWS; `t0` is the first start (epoch seconds).

    >>> t = timeline([{"span": "step", "label": "sft", "start": 100, "end": 110},
    ...               {"span": "learner", "label": "sft", "start": 101, "end": 109}])
    >>> [(s["stage"], s["step"], s["start"], s["end"]) for s in t["spans"]]
    [('step', 'sft', 0.0, 10.0), ('learner', 'sft', 1.0, 9.0)]
    """
    spans = [s for s in spans if s.get("span") in TIMELINE_ROWS and s["end"] >= s["start"]]
    if not spans:
        return {"t0": None, "spans": []}
    t0 = min(s["start"] for s in spans)
    steps = [s for s in spans if s["span"] == "step"]
    out = []
    for s in sorted(spans, key=lambda s: (TIMELINE_ROWS.index(s["span"]), s["start"])):
        middle = (s["start"] + s["end"]) / 2
        step = s.get("label", "") if s["span"] == "step" else _step_at(steps, middle)
        counts = {k: s[k] for k in ("rows", "tokens", "steps") if k in s}
        out.append(
            {"stage": s["span"], "label": s.get("label", ""), "step": step}
            | {"start": round(float(s["start"] - t0), 3), "end": round(float(s["end"] - t0), 3)}
            | counts
        )
    return {"t0": t0, "spans": out}


def _step_at(steps: list[dict], moment: float) -> str:
    inside = [s for s in steps if s["start"] <= moment <= s["end"]]
    return inside[-1].get("label", "") if inside else ""


def throughput(timeline_spans: list[dict], stages: list[tuple[str, dict]]) -> list[dict]:
    """Per run step: wall seconds; sampler samples/s and tokens/s over the time it had work (the union of its
    shards' spans: an engine holds several shards at once); judge rows/s likewise; the learner's seconds per
    optimizer step and tokens/s (its own measurement, in the manifest)."""
    metrics = {name: info.get("metrics", {}) for name, info in stages}
    rows = []
    for step in (s for s in timeline_spans if s["stage"] == "step"):
        name = step["step"]
        row: dict = {"step": name, "seconds": round(step["end"] - step["start"], 1)}
        for stage in ("sampler", "judge"):
            inside = [s for s in timeline_spans if s["stage"] == stage and s["step"] == name]
            busy = busy_seconds([(s["start"], s["end"]) for s in inside])
            if inside and busy > 0:
                row[f"{stage}_rows_per_s"] = round(sum(s.get("rows", 0) for s in inside) / busy, 2)
                if stage == "sampler":
                    row["sampler_tokens_per_s"] = round(sum(s.get("tokens", 0) for s in inside) / busy, 1)
        train = metrics.get(name, {})
        for key, out in (
            ("train/step_seconds", "learner_seconds_per_step"),
            ("train/tokens_per_second", "learner_tokens_per_s"),
        ):
            if key in train:
                row[out] = round(train[key], 2)
        rows.append(row)
    return rows


# Throughput columns (`throughput`) and the driver's metric keys they are reported under.
RATE_KEYS = {
    "sampler_rows_per_s": "sampler/rows_per_s",
    "sampler_tokens_per_s": "sampler/tokens_per_s",
    "judge_rows_per_s": "judge/rows_per_s",
}


def step_metrics(name: str, entry: dict, rates: dict) -> list[dict]:
    """The driver's flat metrics of a finished run step, as reports {values, label, export}: each evaluation set's
    accuracy; a training step's loss, steps and policy version; a practice round's staleness, verdict counts and
    pass rate; any step's sampler and judge rates (`rates`: its `throughput` row). `export` is False for figures
    the stage workers already send to Ray's metrics (a counter reported twice would count twice there).

    >>> [r["values"] for r in step_metrics("eval:sft", {"summaries": [{"set": "h", "accuracy": 0.5}]}, {})]
    [{'eval/accuracy': 0.5}]
    """
    reports = [
        {"values": {MetricNames.EVAL_ACCURACY: s["accuracy"]}, "label": s["set"], "export": True}
        for s in entry.get("summaries", [])
    ]
    counts = entry.get("counts", {})
    if "policy" in entry:
        train = entry.get("metrics", {})
        values = {MetricNames.TRAIN_STEPS: counts.get("train_steps", 0)}
        if "train/loss" in train:
            values[MetricNames.TRAIN_LOSS] = train["train/loss"]
        if "policy_version" in entry:
            values[MetricNames.POLICY_VERSION] = entry["policy_version"]
            values[MetricNames.DISCARDED_STALE] = counts.get("stale_discarded", 0)
        if name.startswith("iter-"):
            values[MetricNames.ITERATION] = int(name.removeprefix("iter-"))
        reports.append({"values": values, "label": name, "export": True})
    practice = {f"judge/{v}": counts[f"judge_{v}"] for v in VERDICTS if f"judge_{v}" in counts}
    if practice:
        practice |= judge_rates(practice)
    practice |= {key: rates[column] for column, key in RATE_KEYS.items() if column in rates}
    if practice:
        reports.append({"values": practice, "label": name, "export": False})
    return reports


def pick_samples(stage: str, set_name: str, verdicts: list[dict]) -> list[dict]:
    """A right and a wrong answer of one evaluation (an undecidable one when none is wrong), with the judge's
    reason, the response cut to SAMPLE_CHARS.

    >>> rows = [{"verdict": "incorrect", "question": "q", "response": "r", "predicted": "3", "expected": "4",
    ...          "judge_reason": "3 != 4"}]
    >>> [(s["verdict"], s["judge_reason"]) for s in pick_samples("base", "heldout", rows)]
    [('incorrect', '3 != 4')]
    """
    picked = []
    for wanted in (("correct",), ("incorrect", "undecidable")):
        found = next((v for kind in wanted for v in verdicts if v["verdict"] == kind), None)
        if found is not None:
            response = (found.get("response") or "").strip() or "(an empty or blank response)"
            cut = response[:SAMPLE_CHARS] + (" [...]" if len(response) > SAMPLE_CHARS else "")
            keys = ("verdict", "question", "predicted", "expected", "judge_reason", "judge_tier")
            picked.append({"stage": stage, "set": set_name, "response": cut} | {k: found.get(k) for k in keys})
    return picked


def build_report(
    run_id: str,
    evals: list[dict],
    stages: list[tuple[str, dict]],
    config_summary: dict,
    *,
    families: list[dict] | None = None,
    histories: dict[str, list[dict]] | None = None,
    spans: list[dict] | None = None,
    samples: list[dict] | None = None,
) -> dict:
    """The content of report.json; its times are those of the steps (engine start-up is not in them).
    `histories`: each training step's per-step learner history; `spans`: the run log's span records."""
    stage_seconds = sum(info.get("seconds", 0) or 0 for _, info in stages)
    eval_seconds = sum(e.get("seconds", 0) or 0 for e in evals)
    spans_on_axis = timeline(spans or [])
    return {
        "run_id": run_id,
        "config": config_summary,
        "accuracy": {
            stage: {s: e["accuracy"] for s, e in per_set.items()} for stage, per_set in accuracy_matrix(evals).items()
        },
        "evaluations": [with_interval(e) for e in evals],
        "families": families or [],
        "curves": {name: c for name, history in (histories or {}).items() if (c := training_curves(history))},
        "timeline": spans_on_axis,
        "throughput": throughput(spans_on_axis["spans"], stages),
        "samples": samples or [],
        "stages": [
            {
                "stage": name,
                "seconds": info.get("seconds"),
                "counts": {k: info["counts"][k] for k in COUNT_KEYS if k in info.get("counts", {})},
            }
            for name, info in stages
        ],
        "stage_seconds": round(stage_seconds, 1),
        "eval_seconds": round(eval_seconds, 1),
        "total_seconds": round(stage_seconds + eval_seconds, 1),
    }
