"""The lines a run prints about itself: one per finished step with its figures (from its manifest entry), and the
live progress of the step under way (problems sampled and judged, training steps, tokens/s, elapsed, ETA).

    step_line("eval:sft", {"seconds": 4.2, "summaries": [{"set": "heldout", "accuracy": 0.25, "correct": 2,
              "problems": 8, "tokens_per_second": 38.3}]})
    # 'eval:sft done in 4 s: heldout 25.0% (2/8), 38 tok/s'
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from orca_ray.core.synthesis_filters import STAGES

# A non-interactive terminal gets the progress of a long step at these gaps: the first after 30 s, then twice as
# long each time, at most 5 minutes apart (a 30-minute step prints 8 lines, a one-minute step one).
FIRST_REPORT_S = 30.0
MAX_REPORT_GAP_S = 300.0


def duration(seconds: float) -> str:
    """Seconds as a person reads them.

    >>> duration(4.2), duration(75), duration(3725)
    ('4 s', '1:15', '1:02:05')
    """
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}:{secs:02d}"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def _number(value: float) -> str:
    value = float(value)
    if not math.isfinite(value):
        return str(value)
    return f"{value:.4g}" if abs(value) < 1000 else f"{value:.0f}"


def _loss(metrics: dict) -> str | None:
    if "train/loss" not in metrics:
        return None
    first = metrics.get("train/loss_first")
    last = _number(metrics["train/loss"])
    return f"loss {_number(first)} -> {last}" if first is not None and _number(first) != last else f"loss {last}"


def _training(entry: dict, method: str | None) -> str:
    counts, metrics = entry.get("counts", {}), entry.get("metrics", {})
    parts = [f"{method + ' ' if method else ''}{counts.get('train_steps', 0)} steps"]
    if loss := _loss(metrics):
        parts.append(loss)
    if "train/tokens_per_second" in metrics:
        parts.append(f"{_number(metrics['train/tokens_per_second'])} tok/s")
    return ", ".join(parts)


def _problems(entry: dict) -> str:
    counts = entry.get("counts", {})
    parts = [f"{counts.get('problems', 0)} training problems"]
    dropped = {k: counts.get(f"train_{k}", 0) for k in ("quarantined", "decontaminated")}
    parts += [f"{n} {what}" for what, n in dropped.items() if n]
    sets = sorted(k.removeprefix("eval_").removesuffix("_read") for k in counts if k.endswith("_read") and "eval_" in k)
    if sets:
        parts.append("eval " + ", ".join(f"{name} {counts[f'eval_{name}_read']}" for name in sets))
    return ", ".join(parts)


def _evaluation(entry: dict) -> str:
    parts = []
    for s in entry.get("summaries", []):
        text = f"{s['set']} {100 * s['accuracy']:.1f}% ({s.get('correct', 0)}/{s.get('problems', 0)})"
        if s.get("tokens_per_second"):
            text += f", {_number(s['tokens_per_second'])} tok/s"
        parts.append(text)
    return "; ".join(parts)


def _iteration(entry: dict, method: str | None) -> str:
    counts = entry.get("counts", {})
    sampled = counts.get("problems_sampled", counts.get("problems", 0))
    verdicts = ", ".join(
        f"{counts[f'judge_{v}']} {v}" for v in ("correct", "incorrect", "undecidable") if f"judge_{v}" in counts
    )
    parts = [f"{sampled}/{counts.get('problems', sampled)} problems sampled"]
    if verdicts:
        parts.append(f"{counts.get('judge_samples', 0)} samples judged ({verdicts})")
    rows = counts.get("examples") or counts.get("pairs")
    if rows:
        parts.append(f"{rows} {'examples' if counts.get('examples') else 'pairs'}")
    if counts.get("stale_discarded"):
        parts.append(f"{counts['stale_discarded']} stale discarded")
    parts.append(_training(entry, method))
    if "policy_version" in entry:
        parts.append(f"policy v{entry['policy_version']}")
    return "; ".join(parts)


def step_figures(name: str, entry: dict, method: str | None = None) -> str:
    """The figures of a finished step from its manifest entry (`method`: the practice rounds' training method).

    >>> step_figures("sft", {"counts": {"train_steps": 2}, "metrics": {"train/loss_first": 10.73, "train/loss": 10.7}})
    '2 steps, loss 10.73 -> 10.7'
    """
    if name == "problems":
        return _problems(entry)
    if name.startswith("eval:"):
        return _evaluation(entry)
    if name == "sft":
        examples = entry.get("counts", {}).get("sft_examples")
        return _training(entry, None) + (f" on {examples} examples" if examples else "")
    if name.startswith("iter-"):
        return _iteration(entry, method)
    counts = entry.get("counts", {})
    if name == "synthesis":
        funnel = " > ".join(
            f"{stage} {counts[f'synthesis_{stage}']}" for stage in STAGES if f"synthesis_{stage}" in counts
        )
        return f"{funnel}; {counts.get('problems', 0)} training problems" if funnel else ""
    return ", ".join(f"{k} {v}" for k, v in list(counts.items())[:8])


def step_line(name: str, entry: dict, method: str | None = None) -> str:
    """One line for a step that just finished.

    >>> step_line("eval:base", {"seconds": 4.2, "summaries": [{"set": "heldout", "accuracy": 0.0, "correct": 0,
    ...           "problems": 8}]})
    'eval:base done in 4 s: heldout 0.0% (0/8)'
    """
    figures = step_figures(name, entry, method)
    return f"{name} done in {duration(entry.get('seconds', 0))}" + (f": {figures}" if figures else "")


def earlier_line(name: str, entry: dict, method: str | None = None) -> str:
    """One line for a step a resumed run reuses.

    >>> earlier_line("problems", {"seconds": 1.6, "counts": {"problems": 16}})
    'problems done earlier (2 s): 16 training problems'
    """
    figures = step_figures(name, entry, method)
    return f"{name} done earlier ({duration(entry.get('seconds', 0))})" + (f": {figures}" if figures else "")


@dataclass
class Progress:
    """What is known of the step under way. Totals are None when unknown."""

    elapsed: float = 0.0
    problems: int | None = None  # problems the step samples (and judges)
    sampled: int = 0
    judged: int = 0
    sample_tokens_per_s: float | None = None
    train_step: int = 0
    train_steps: int | None = None
    train_tokens_per_s: float | None = None
    trains: bool = False  # the step has a learner


def fraction(p: Progress) -> float | None:
    """How much of the step is done, for the ETA: judged problems, training steps, or their mean when the step does
    both; None when neither total is known.

    >>> fraction(Progress(problems=10, judged=5)), fraction(Progress(problems=10, judged=10, trains=True,
    ...     train_step=1, train_steps=4))
    (0.5, 0.625)
    """
    parts = []
    if p.problems:
        parts.append(min(1.0, p.judged / p.problems))
    if p.trains:
        if not p.train_steps:
            parts.append(0.0)
        else:
            parts.append(min(1.0, p.train_step / p.train_steps))
    return sum(parts) / len(parts) if parts and (p.problems or p.train_steps) else None


def eta(p: Progress) -> float | None:
    """Seconds left at the rate so far; None before anything is done.

    >>> eta(Progress(elapsed=30, problems=10, judged=5))
    30.0
    """
    done = fraction(p)
    if not done or done <= 0:
        return None
    return p.elapsed * (1 - done) / done


def progress_figures(p: Progress) -> str:
    """The step's figures so far, without its name and times.

    >>> progress_figures(Progress(problems=16, sampled=8, judged=4, sample_tokens_per_s=41.2, trains=True,
    ...                           train_step=1, train_steps=2))
    'sampled 8/16, judged 4/16, train step 1/2, 41.2 tok/s sampling'
    """
    parts = []
    if p.problems is not None:
        parts += [f"sampled {p.sampled}/{p.problems}", f"judged {p.judged}/{p.problems}"]
    if p.trains:
        parts.append(f"train step {p.train_step}/{p.train_steps if p.train_steps else '?'}")
    if p.sample_tokens_per_s:
        parts.append(f"{_number(p.sample_tokens_per_s)} tok/s sampling")
    if p.train_tokens_per_s:
        parts.append(f"{_number(p.train_tokens_per_s)} tok/s training")
    return ", ".join(parts)


def progress_line(name: str, p: Progress) -> str:
    """The progress of a step under way as one line (a non-interactive terminal's report).

    >>> progress_line("eval:sft", Progress(elapsed=30, problems=8, sampled=4, judged=4))
    'eval:sft: sampled 4/8, judged 4/8, 30 s elapsed, ETA 30 s'
    """
    left = eta(p)
    times = f"{duration(p.elapsed)} elapsed" + (f", ETA {duration(left)}" if left is not None else "")
    figures = progress_figures(p)
    return f"{name}: {figures}, {times}" if figures else f"{name}: {times}"


def next_report(last_gap: float | None) -> float:
    """The gap before the next progress line on a non-interactive terminal, given the last one (None: none yet).

    >>> next_report(None), next_report(30.0), next_report(240.0)
    (30.0, 60.0, 300.0)
    """
    return FIRST_REPORT_S if last_gap is None else min(MAX_REPORT_GAP_S, 2 * last_gap)
