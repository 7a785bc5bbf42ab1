"""The run report from a run directory made without models (fake manifest, Parquet rows, learner histories and
spans): its content, its figures, and the page as a real headless browser renders it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from orca_ray.core.manifest import Manifest
from orca_ray.core.report import accuracy_table, busy_seconds, throughput, timeline
from orca_ray.run_report import write_run_report
from orca_ray.schemas import Problem, Verdict, write_rows

FAMILIES = ("shopping", "ages", "travel")
STAGES = ("base", "sft", "iter-1")
CORRECT_SHARE = {"base": 0.1, "sft": 0.3, "iter-1": 0.4}
T0 = 1_780_000_000.0  # epoch seconds of the fake run's first step


def _history(method: str, steps: int) -> list[dict]:
    entries = []
    for step in range(1, steps + 1):
        entry = {"step": step, "train/loss": 2.0 / step, "train/grad_norm": 1.0, "train/step_seconds": 1.5}
        if method == "kto":
            entry |= {"train/rewards_chosen": 0.1 * step, "train/rewards_rejected": -0.1 * step}
            entry |= {"train/rewards_margins": 0.2 * step, "train/kl": 0.01 * step}
        entries.append(entry)
    return entries


def _span(stage: str, label: str, start: float, end: float, **counts) -> dict:
    return {
        "ts": T0 + end,
        "source": stage,
        "span": stage,
        "label": label,
        "start": T0 + start,
        "end": T0 + end,
    } | counts


def _spans() -> list[dict]:
    steps = [
        ("eval:base", 0, 20),
        ("sft", 20, 60),
        ("eval:sft", 60, 80),
        ("iter-1", 80, 140),
        ("eval:iter-1", 140, 160),
    ]
    spans = [_span("step", name, a, b) for name, a, b in steps]
    for name, a, _ in steps:
        if name.startswith("eval:") or name == "iter-1":
            for shard in range(3):  # shards overlap on the engine: 3 in flight, staggered
                start = a + 2 + 3 * shard
                spans.append(_span("sampler", f"shard-{shard:05d}", start, start + 10, rows=16, tokens=800))
                spans.append(_span("judge", f"shard-{shard:05d}", start + 10, start + 11, rows=16))
    spans.append(_span("learner", "sft", 21, 59, steps=10))
    spans.append(_span("learner", "iter-1", 82, 138, steps=8))
    return spans


def make_run_dir(root: Path, n: int = 30) -> Path:
    """A finished run's directory as loop.py writes it: base, SFT and one KTO iteration, each evaluated."""
    root.mkdir(parents=True)
    problems = [
        Problem(id=f"p{i}", question=f"Question {i}: 3 + {i}?", answer=str(3 + i), family=FAMILIES[i % 3])
        for i in range(n)
    ]
    write_rows(root / "problems" / "eval" / "heldout.parquet", problems, Problem)
    manifest = Manifest(root / "manifest.json")
    manifest.mark_done("problems", {"counts": {"problems": 48}}, 0.4)
    for stage in STAGES:
        right = int(CORRECT_SHARE[stage] * n)
        verdicts = [
            Verdict(
                problem_id=p.id,
                sample_index=0,
                question=p.question,
                response=f"3 + {i} = {3 + i}. The answer is {3 + i}." if i < right else "The answer is 7.",
                verdict="correct" if i < right else "incorrect",
                predicted=str(3 + i) if i < right else "7",
                expected=p.answer,
                judge_reason="numbers match" if i < right else f"7 != {p.answer}",
            )
            for i, p in enumerate(problems)
        ]
        write_rows(root / "eval" / stage / "heldout.parquet", verdicts, Verdict)
        summary = {"set": "heldout", "stage": stage, "problems": n, "correct": right, "accuracy": right / n}
        if stage != "base":
            train_dir = root / ("sft" if stage == "sft" else f"{stage}/train")
            train_dir.mkdir(parents=True, exist_ok=True)
            method = "sft" if stage == "sft" else "kto"
            history = _history(method, 10 if stage == "sft" else 8)
            (train_dir / "train_result.json").write_text(json.dumps({"steps": len(history), "history": history}))
            metrics = {
                "train/loss": history[-1]["train/loss"],
                "train/step_seconds": 1.5,
                "train/tokens_per_second": 900.0,
            }
            counts = {"problems": 16, "samples": 64, "teacher_fallbacks": 3, "train_steps": len(history)}
            manifest.mark_done(
                stage, {"policy": str(train_dir / "adapter"), "counts": counts, "metrics": metrics}, 40.0
            )
        manifest.mark_done(f"eval:{stage}", {"summaries": [summary | {"seconds": 20.0}]}, 20.0)
    config = {"student": {"model": "tiny-llama"}, "teacher": {"backend": "symbolic"}, "loop": {"iterations": 1}}
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    (root / "metrics.jsonl").write_text("".join(json.dumps(s) + "\n" for s in _spans()))
    return root


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    root = make_run_dir(tmp_path_factory.mktemp("report") / "fake-run")
    write_run_report(root)
    return root


def test_report_holds_intervals_families_curves_timeline_throughput_and_samples(run_dir):
    report = json.loads((run_dir / "report.json").read_text())
    sft = next(e for e in report["evaluations"] if e["stage"] == "sft")
    assert sft["low"] < sft["accuracy"] == 0.3 < sft["high"]
    assert {(f["stage"], f["family"]) for f in report["families"]} == {(s, f) for s in STAGES for f in FAMILIES}
    assert sum(f["problems"] for f in report["families"] if f["stage"] == "base") == 30
    assert set(report["curves"]) == {"sft", "iter-1"}
    assert report["curves"]["iter-1"][0]["train/kl"] == 0.01 and "train/grad_norm" not in report["curves"]["sft"][0]
    stages_on_axis = {s["stage"] for s in report["timeline"]["spans"]}
    assert stages_on_axis == {"step", "sampler", "judge", "learner"}
    assert {s["step"] for s in report["timeline"]["spans"] if s["stage"] == "sampler"} == {
        "eval:base",
        "eval:sft",
        "iter-1",
        "eval:iter-1",
    }
    iteration = next(r for r in report["throughput"] if r["step"] == "iter-1")
    # 3 shards of 800 tokens over the union of their spans (2..18 s after the step began: 16 s).
    assert iteration["sampler_tokens_per_s"] == 150.0 and iteration["learner_tokens_per_s"] == 900.0
    kinds = [(s["stage"], s["verdict"]) for s in report["samples"]]
    assert kinds == [(stage, verdict) for stage in STAGES for verdict in ("correct", "incorrect")]
    assert report["samples"][1]["judge_reason"].startswith("7 != ")
    for name in ("accuracy", "families", "training", "timeline"):
        assert (run_dir / f"{name}.png").stat().st_size > 5000
    html = (run_dir / "report.html").read_text()
    assert "teacher_fallbacks" in html and "accuracy.png" in html and "7 != " in html


def test_terminal_table_shows_the_interval():
    evals = [{"stage": "sft", "set": "heldout", "accuracy": 10 / 150, "correct": 10, "problems": 150}]
    assert "6.7% [3.7, 11.8] (10/150)" in accuracy_table(evals)


def test_spans_outside_every_step_and_old_runs_without_spans():
    assert timeline([]) == {"t0": None, "spans": []} and throughput([], []) == []
    loose = timeline([{"span": "sampler", "label": "x", "start": 5.0, "end": 6.0, "rows": 2}])
    assert loose["spans"][0]["step"] == "" and loose["t0"] == 5.0
    assert busy_seconds([]) == 0.0


def test_report_command_regenerates_the_report(run_dir):
    (run_dir / "report.html").unlink()
    result = subprocess.run(
        [sys.executable, "-m", "orca_ray.cli", "report", str(run_dir)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "10.0% [3.5, 25.6] (3/30)" in result.stdout and (run_dir / "report.html").is_file()
    missing = subprocess.run(
        [sys.executable, "-m", "orca_ray.cli", "report", str(run_dir / "nope")], capture_output=True, text=True
    )
    assert missing.returncode == 2 and "not a run directory" in missing.stderr


# ----------------------------------------------------------------- the page in a real browser


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)

# Run after load inside the page: every figure with its decoded size (naturalWidth is 0 for an image that failed to
# load or decode), written into the DOM that --dump-dom prints.
PROBE = """<script>window.addEventListener('load', () => {
  const out = [...document.images].map(i => [i.id, i.complete, i.naturalWidth, i.naturalHeight].join(':'));
  const pre = document.createElement('pre'); pre.id = 'probe'; pre.textContent = 'IMAGES ' + out.join(' ');
  document.body.appendChild(pre);
});</script></body>"""


def _browser(*args: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        command = [_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(_chromium() is None, reason="chromium is not installed (Debian: apt-get install -y chromium)")
def test_headless_chromium_renders_every_figure(run_dir, tmp_path):
    probed = tmp_path / "probed.html"
    for figure in run_dir.glob("*.png"):
        shutil.copy(figure, tmp_path / figure.name)
    probed.write_text((run_dir / "report.html").read_text().replace("</body>", PROBE))
    dom = _browser("--virtual-time-budget=5000", "--dump-dom", probed.as_uri()).stdout
    assert '<pre id="probe">' in dom, "the page's script did not run"
    probe = dom.split('<pre id="probe">', 1)[1].split("</pre>", 1)[0].removeprefix("IMAGES").split()
    images = {name: (complete, int(w), int(h)) for name, complete, w, h in (entry.split(":") for entry in probe)}
    assert set(images) == {"fig-accuracy", "fig-families", "fig-training", "fig-timeline"}
    for name, (complete, width, height) in images.items():
        assert complete == "true" and width >= 600 and height >= 300, f"{name} did not render: {width}x{height}"
    assert "Samples" in dom and "7 != " in dom
    screenshot = tmp_path / "report.png"
    _browser(f"--screenshot={screenshot}", "--window-size=1200,3000", (run_dir / "report.html").as_uri())
    from PIL import Image

    with Image.open(screenshot) as image:
        assert image.size == (1200, 3000)
        inked = sum(1 for pixel in image.convert("L").getdata() if pixel < 200)
    assert inked > 0.03 * 1200 * 3000, f"the page looks blank: {inked} dark pixels"  # figures, not an empty page


def test_driver_reports_of_a_practice_round():
    from orca_ray.core.report import step_metrics

    entry = {
        "policy": "iter-1/train/adapter",
        "policy_version": 2,
        "counts": {"judge_correct": 6, "judge_incorrect": 2, "judge_undecidable": 0, "train_steps": 8},
        "metrics": {"train/loss": 0.4},
    }
    rates = {"sampler_rows_per_s": 3.0, "sampler_tokens_per_s": 150.0, "judge_rows_per_s": 16.0, "seconds": 60}
    (train, practice) = step_metrics("iter-1", entry, rates)
    assert train["export"] and train["label"] == "iter-1"
    assert train["values"] == {
        "learner/steps": 8,
        "learner/train_loss": 0.4,
        "loop/policy_version": 2,
        "loop/discarded_stale": 0,
        "loop/iteration": 1,
    }
    # Verdict counts and rates are already exported by the stage workers: only the run log and the trackers get these.
    assert not practice["export"]
    assert practice["values"]["judge/correct"] == 6 and practice["values"]["judge/pass_rate"] == 0.75
    assert practice["values"]["sampler/tokens_per_s"] == 150.0 and practice["values"]["judge/rows_per_s"] == 16.0


def test_the_synthesis_yield_per_agent_is_on_the_page():
    from orca_ray.core.report_html import _synthesis

    summary = {
        "seeds": 4,
        "kept": 5,
        "stages": ["seeds", "generated", "kept"],
        "counts": {"seeds": {"ask_me_anything": 4, "symbolic_harder": 4}, "generated": {"ask_me_anything": 3},
                   "kept": {"symbolic_harder": 4, "ask_me_anything": 1}},
    }  # fmt: skip
    html = _synthesis({"synthesis": summary})
    assert "<th>ask_me_anything</th>" in html and "<td>generated</td><td>3</td><td>0</td>" in html
    assert "4 seeds, 5 problems kept" in html
    assert "off in this run" in _synthesis({})


def test_plots_draw_bounds_a_few_ulps_outside_their_proportion(tmp_path):
    # report.json of a run before the interval fix: 'low' above the accuracy by 5.6e-17 (0 of 3 correct).
    from orca_ray.report_plot import plot_accuracy, plot_families

    evals = [{"stage": "base", "set": "heldout", "accuracy": 0.0, "low": 5.551115123125783e-17, "high": 0.56}]
    assert plot_accuracy(evals, tmp_path / "accuracy.png").stat().st_size > 0
    families = [evals[0] | {"family": "sum", "problems": 3, "high": 0.9999999999999999, "accuracy": 1.0}]
    assert plot_families(families, tmp_path / "families.png").stat().st_size > 0
