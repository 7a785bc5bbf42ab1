"""The run report: accuracy per stage and evaluation set, per-stage counts and timings, as JSON, a terminal
table and an HTML page a person can read.

    >>> evals = [{"stage": "base", "set": "heldout", "accuracy": 0.1, "correct": 1, "problems": 10}]
    >>> print(accuracy_table(evals))
    stage  heldout
    -----  ------------
    base   10.0% (1/10)
"""

from __future__ import annotations

import html
import json

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


def _eval_sets(evals: list[dict]) -> list[str]:
    return list(dict.fromkeys(e["set"] for e in evals))


def _stages(evals: list[dict]) -> list[str]:
    return list(dict.fromkeys(e["stage"] for e in evals))


def accuracy_matrix(evals: list[dict]) -> dict[str, dict[str, dict]]:
    """{stage: {set: summary}} from a list of evaluation summaries tagged with stage and set."""
    matrix: dict[str, dict[str, dict]] = {}
    for e in evals:
        matrix.setdefault(e["stage"], {})[e["set"]] = e
    return matrix


def accuracy_table(evals: list[dict]) -> str:
    """A plain-text table: one row per stage, one column per evaluation set."""
    sets, matrix = _eval_sets(evals), accuracy_matrix(evals)
    rows = [["stage", *sets]]
    for stage in _stages(evals):
        cells = [stage]
        for name in sets:
            e = matrix[stage].get(name)
            cells.append(f"{e['accuracy']:.1%} ({e['correct']}/{e['problems']})" if e else "-")
        rows.append(cells)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def build_report(run_id: str, evals: list[dict], stages: list[tuple[str, dict]], config_summary: dict) -> dict:
    """The content of report.json; its times are those of the steps (engine start-up is not in them)."""
    stage_seconds = sum(info.get("seconds", 0) or 0 for _, info in stages)
    eval_seconds = sum(e.get("seconds", 0) or 0 for e in evals)
    return {
        "run_id": run_id,
        "config": config_summary,
        "accuracy": {
            stage: {s: e["accuracy"] for s, e in per_set.items()} for stage, per_set in accuracy_matrix(evals).items()
        },
        "evaluations": evals,
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


def render_html(report: dict, plot_file: str | None) -> str:
    """A self-contained HTML page: the plot, the accuracy table, per-stage counts and timings."""
    esc = html.escape
    evals = report["evaluations"]
    sets = _eval_sets(evals)
    matrix = accuracy_matrix(evals)
    acc_rows = "".join(
        "<tr><td>{}</td>{}</tr>".format(
            esc(stage),
            "".join(
                f"<td>{matrix[stage][s]['accuracy']:.1%} ({matrix[stage][s]['correct']}/{matrix[stage][s]['problems']})"
                "</td>"
                if s in matrix[stage]
                else "<td>-</td>"
                for s in sets
            ),
        )
        for stage in _stages(evals)
    )
    keys = [k for k in COUNT_KEYS if any(k in st["counts"] for st in report["stages"])]
    stage_rows = "".join(
        "<tr><td>{}</td><td>{}</td>{}</tr>".format(
            esc(st["stage"]),
            "" if st["seconds"] is None else f"{st['seconds']:.1f}",
            "".join(f"<td>{st['counts'].get(k, '')}</td>" for k in keys),
        )
        for st in report["stages"]
    )
    plot = f'<img src="{esc(plot_file)}" alt="accuracy per stage" width="640">' if plot_file else ""
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>orca-ray run {esc(report["run_id"])}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}td:first-child,th:first-child{{text-align:left}}
</style></head><body>
<h1>orca-ray run {esc(report["run_id"])}</h1>
<p>Time in steps: {report["total_seconds"]} s ({report["stage_seconds"]} s in data, training and practice,
{report["eval_seconds"]} s in evaluation)</p>
{plot}
<h2>Held-out accuracy (greedy pass@1)</h2>
<table><tr><th>stage</th>{"".join(f"<th>{esc(s)}</th>" for s in sets)}</tr>{acc_rows}</table>
<h2>Stages</h2>
<table><tr><th>stage</th><th>seconds</th>{"".join(f"<th>{esc(k)}</th>" for k in keys)}</tr>{stage_rows}</table>
<h2>Config</h2><pre>{esc(json.dumps(report["config"], indent=2))}</pre>
</body></html>
"""
