"""The run report as one HTML page (report.json's content, orca_ray/core/report.py): figures beside the tables
they draw, so a person sees what each stage did, how the learner moved, what overlapped, and real answers.

    >>> page = render_html({"run_id": "r", "evaluations": [], "stages": [], "config": {}, "total_seconds": 0,
    ...                     "stage_seconds": 0, "eval_seconds": 0}, {})
    >>> "<h1>orca-ray run r</h1>" in page
    True
"""

from __future__ import annotations

import html
import json

from orca_ray.core.report import COUNT_KEYS, accuracy_cell, accuracy_matrix, eval_sets, eval_stages

esc = html.escape

STYLE = """body{font-family:sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child,th:first-child{text-align:left}
img{max-width:100%;border:1px solid #eee}.sample{border:1px solid #ddd;margin:.5em 0;padding:.5em}
.correct{border-left:6px solid #2a2}.incorrect,.undecidable{border-left:6px solid #c33}
.wide{overflow-x:auto}pre{white-space:pre-wrap;background:#f7f7f7;padding:.5em;margin:.3em 0}
.note{color:#555;font-size:90%}"""

THROUGHPUT_COLUMNS = (
    ("seconds", "wall s"),
    ("sampler_rows_per_s", "sampler samples/s"),
    ("sampler_tokens_per_s", "sampler tokens/s"),
    ("judge_rows_per_s", "judge rows/s"),
    ("learner_seconds_per_step", "learner s/step"),
    ("learner_tokens_per_s", "learner tokens/s"),
)


def _figure(figures: dict[str, str], name: str, alt: str) -> str:
    return f'<img src="{esc(figures[name])}" alt="{esc(alt)}" id="fig-{esc(name)}">' if name in figures else ""


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<div class='wide'><table><tr>{head}</tr>{body}</table></div>"  # wide tables scroll, not the page


def _accuracy(report: dict) -> str:
    evals = report["evaluations"]
    sets, matrix = eval_sets(evals), accuracy_matrix(evals)
    rows = [
        [esc(stage), *(esc(accuracy_cell(matrix[stage][s])) if s in matrix[stage] else "-" for s in sets)]
        for stage in eval_stages(evals)
    ]
    return _table(["stage", *sets], rows)


def _families(report: dict) -> str:
    families = report.get("families", [])
    if not families:
        return "<p class='note'>No per-problem rows with a family were found.</p>"
    stages = list(dict.fromkeys(f["stage"] for f in families))
    names = list(dict.fromkeys((f["set"], f["family"]) for f in families))
    cell = {(f["stage"], f["set"], f["family"]): f for f in families}
    rows = [
        [
            esc(f"{family} ({set_name})"),
            *(
                esc(accuracy_cell(cell[(st, set_name, family)])) if (st, set_name, family) in cell else "-"
                for st in stages
            ),
        ]
        for set_name, family in names
    ]
    return _table(["family (set)", *stages], rows)


def _throughput(report: dict) -> str:
    rows = report.get("throughput", [])
    if not rows:
        return "<p class='note'>No spans in the run log (a run from before spans were recorded).</p>"
    columns = [(k, title) for k, title in THROUGHPUT_COLUMNS if any(k in r for r in rows)]
    body = [[esc(r["step"]), *(f"{r[k]:g}" if k in r else "" for k, _ in columns)] for r in rows]
    return _table(["step", *(title for _, title in columns)], body)


def _samples(report: dict) -> str:
    parts = []
    for s in report.get("samples", []):
        verdict = esc(s["verdict"])
        parts.append(
            f"<div class='sample {verdict}'><b>{esc(s['stage'])}</b> on {esc(s['set'])}: <b>{verdict}</b> "
            f"(answer {esc(s.get('predicted') or 'none found')}, expected {esc(str(s.get('expected')))}; judge "
            f"{esc(str(s.get('judge_tier') or ''))}: {esc(s.get('judge_reason') or '')})"
            f"<pre>{esc(s.get('question') or '')}</pre><pre>{esc(s.get('response') or '')}</pre></div>"
        )
    return "".join(parts) or "<p class='note'>No evaluation rows were found.</p>"


def _stage_counts(report: dict) -> str:
    keys = [k for k in COUNT_KEYS if any(k in st["counts"] for st in report["stages"])]
    rows = [
        [
            esc(st["stage"]),
            "" if st["seconds"] is None else f"{st['seconds']:.1f}",
            *(str(st["counts"].get(k, "")) for k in keys),
        ]
        for st in report["stages"]
    ]
    return _table(["stage", "seconds", *keys], rows)


def _synthesis(report: dict) -> str:
    """The agents' yield: how many problems each agent had at every filter stage (synthesis/summary.json)."""
    summary = report.get("synthesis")
    if not summary:
        return "<p class='note'>Synthesis was off in this run.</p>"
    counts = summary.get("counts", {})
    stages = summary.get("stages") or list(counts)
    agents = sorted({agent for per_agent in counts.values() for agent in per_agent})
    rows = [[esc(stage), *(str(counts.get(stage, {}).get(a, 0)) for a in agents)] for stage in stages]
    note = f"<p class='note'>{summary.get('seeds', '?')} seeds, {summary.get('kept', '?')} problems kept.</p>"
    return note + _table(["stage", *agents], rows)


def render_html(report: dict, figures: dict[str, str]) -> str:
    """The page; `figures` maps a figure's name (accuracy, families, training, timeline) to its file, relative to
    the page."""
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>orca-ray run {esc(report["run_id"])}</title>
<style>{STYLE}</style></head><body>
<h1>orca-ray run {esc(report["run_id"])}</h1>
<p>Time in steps: {report["total_seconds"]} s ({report["stage_seconds"]} s in data, training and practice,
{report["eval_seconds"]} s in evaluation)</p>
<h2>Held-out accuracy (greedy pass@1)</h2>
<p class="note">Each cell: accuracy [95% Wilson interval, in points] (correct/problems). Intervals that overlap mean
the difference may be noise.</p>
{_figure(figures, "accuracy", "accuracy per stage")}
{_accuracy(report)}
<h2>Accuracy per problem family</h2>
{_figure(figures, "families", "accuracy per problem family")}
{_families(report)}
<h2>Training curves</h2>
<p class="note">Per logged optimizer step of each training stage: the loss and, for KTO and DPO, the rewards of chosen
and rejected completions, their margin and KL (TRL's own logs).</p>
{_figure(figures, "training", "training curves") or "<p class='note'>No training history was found.</p>"}
<h2>Timeline</h2>
<p class="note">Every run step, and inside it each shard the sampler and the judge worked on and the learner's Ray
Train run (from its start to its last step), on one time axis: overlapping bars ran at the same time.</p>
{_figure(figures, "timeline", "timeline of stage spans") or "<p class='note'>No spans were recorded.</p>"}
<h2>Throughput</h2>
<p class="note">Rates over the time a stage had work (the union of its spans), per run step.</p>
{_throughput(report)}
<h2>Samples</h2>
<p class="note">A right and a wrong answer of each evaluated stage, with the judge's reason.</p>
{_samples(report)}
<h2>Synthesis yield per agent</h2>
{_synthesis(report)}
<h2>Stages</h2>
{_stage_counts(report)}
<h2>Config</h2><pre>{esc(json.dumps(report["config"], indent=2))}</pre>
</body></html>
"""
