"""The figures of a run report (matplotlib, headless), drawn from report.json's content (orca_ray/core/report.py):
accuracy per stage with 95% intervals, accuracy per problem family, training curves, and the timeline of stage
spans. Each function writes one PNG and returns its path, or None when there is nothing to draw."""

from __future__ import annotations

from pathlib import Path

# One colour per run step on the timeline, and per stage elsewhere (matplotlib's default cycle, named here so that
# a step keeps its colour across figures).
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22")
# Panels of the training figure: the keys each draws (orca_ray.core.report.CURVE_KEYS) and its axis label.
TRAINING_PANELS = (
    (("train/loss",), "loss"),
    (("train/rewards_chosen", "train/rewards_rejected", "train/rewards_margins"), "reward"),
    (("train/kl",), "KL"),
    (("train/rewards_accuracies",), "reward accuracy"),
)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path)
    _pyplot().close(fig)
    return path


def _error(upper: float, lower: float) -> float:
    """An error bar's length in points. matplotlib refuses a negative one, and a report.json written before the
    Wilson interval was made to always hold its proportion can have a bound a few ulps on the wrong side."""
    return max(0.0, 100 * (upper - lower))


def plot_accuracy(evals: list[dict], path: Path) -> Path | None:
    """One line per evaluation set: greedy pass@1 after each stage, with its 95% Wilson interval as error bars
    ('low' and 'high' of each summary, when present)."""
    if not evals:
        return None
    plt = _pyplot()
    stages = list(dict.fromkeys(e["stage"] for e in evals))
    sets = list(dict.fromkeys(e["set"] for e in evals))
    fig, ax = plt.subplots(figsize=(7.0, 3.8), dpi=100)
    for offset, name in enumerate(sets):
        points = {e["stage"]: e for e in evals if e["set"] == name}
        xs = [i for i, stage in enumerate(stages) if stage in points]
        found = [points[stages[i]] for i in xs]
        ys = [100 * e["accuracy"] for e in found]
        low = [_error(e["accuracy"], e.get("low", e["accuracy"])) for e in found]
        high = [_error(e.get("high", e["accuracy"]), e["accuracy"]) for e in found]
        shift = 0.06 * (offset - (len(sets) - 1) / 2)  # sets side by side, so their bars do not hide each other
        ax.errorbar([x + shift for x in xs], ys, yerr=[low, high], marker="o", capsize=4, label=name)
    ax.set_xticks(range(len(stages)), stages)
    ax.set_ylabel("accuracy (%)")
    top = max(100 * e.get("high", e["accuracy"]) for e in evals)
    ax.set_ylim(0, min(100, max(10, 1.15 * top)))
    ax.set_title("Held-out accuracy after each stage (greedy pass@1, 95% Wilson interval)")
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)


def plot_families(families: list[dict], path: Path) -> Path | None:
    """Grouped bars: accuracy per problem family (x), one bar per stage, with 95% intervals; one panel per set."""
    if not families:
        return None
    plt = _pyplot()
    sets = list(dict.fromkeys(f["set"] for f in families))
    stages = list(dict.fromkeys(f["stage"] for f in families))
    fig, axes = plt.subplots(len(sets), 1, figsize=(9.0, 3.4 * len(sets)), dpi=100, squeeze=False)
    width = 0.8 / len(stages)
    for ax, set_name in zip(axes[:, 0], sets, strict=True):
        rows = [f for f in families if f["set"] == set_name]
        names = list(dict.fromkeys(f["family"] for f in rows))
        for k, stage in enumerate(stages):
            cell = {f["family"]: f for f in rows if f["stage"] == stage}
            xs = [i + (k - (len(stages) - 1) / 2) * width for i, name in enumerate(names) if name in cell]
            found = [cell[name] for name in names if name in cell]
            ys = [100 * f["accuracy"] for f in found]
            errors = [
                [_error(f["accuracy"], f["low"]) for f in found],
                [_error(f["high"], f["accuracy"]) for f in found],
            ]
            ax.bar(xs, ys, width, yerr=errors, capsize=2, label=stage, color=PALETTE[k % len(PALETTE)])
        counts = {name: max(f["problems"] for f in rows if f["family"] == name) for name in names}
        ax.set_xticks(range(len(names)), [f"{name}\n(n={counts[name]})" for name in names], fontsize=8)
        ax.set_ylabel("accuracy (%)")
        ax.set_ylim(0, 100)
        ax.set_title(f"Accuracy per problem family on {set_name} (95% Wilson interval)")
        ax.grid(alpha=0.3, axis="y")
        ax.legend(fontsize=8, ncols=min(len(stages), 6))
    return _save(fig, path)


def plot_training(curves: dict[str, list[dict]], path: Path) -> Path | None:
    """A column per training stage (SFT, each iteration: their losses differ in kind and scale), a row per panel
    some stage logged: loss; rewards of chosen and rejected completions and their margin; KL; reward accuracy."""
    logged = {key for entries in curves.values() for entry in entries for key in entry}
    panels = [(keys, label) for keys, label in TRAINING_PANELS if logged.intersection(keys)]
    if not panels:
        return None
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    names = list(curves)
    fig, axes = plt.subplots(
        len(panels), len(names), figsize=(min(16.0, 1.5 + 4.0 * len(names)), 2.6 * len(panels)), dpi=100, squeeze=False
    )
    for column, name in enumerate(names):
        entries = curves[name]
        axes[0, column].set_title(f"{name} (per optimizer step)")
        for row, (keys, label) in enumerate(panels):
            ax = axes[row, column]
            for style, key in zip(("-", "--", ":"), keys, strict=False):
                points = [(e["step"], e[key]) for e in entries if key in e]
                if points:
                    xs, ys = zip(*points, strict=True)
                    ax.plot(xs, ys, style, marker=".", label=key.removeprefix("train/rewards_").removeprefix("train/"))
            if not ax.lines:
                ax.set_axis_off()
                continue
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # optimizer steps
            if len(keys) > 1:
                ax.legend(fontsize=8)
        visible = [ax for ax in axes[:, column] if ax.lines]
        if visible:
            visible[-1].set_xlabel("optimizer step")
    return _save(fig, path)


def plot_timeline(timeline: dict, path: Path) -> Path | None:
    """One row per stage (the run's steps, sampler, judge, learner), a bar per span, coloured by the run step it
    fell in: what overlapped is what shares an x range."""
    spans = timeline.get("spans", [])
    if not spans:
        return None
    plt = _pyplot()
    from orca_ray.core.report import TIMELINE_ROWS

    rows = [r for r in TIMELINE_ROWS if any(s["stage"] == r for s in spans)]
    steps = list(dict.fromkeys(s["step"] for s in spans if s["stage"] == "step"))
    colour = {step: PALETTE[i % len(PALETTE)] for i, step in enumerate(steps)}
    fig, ax = plt.subplots(figsize=(11.0, 1.0 + 0.7 * len(rows)), dpi=100)
    for y, row in enumerate(rows):
        inside = [s for s in spans if s["stage"] == row]
        # Shards in flight at once overlap on one row: thin bars, slightly transparent, so the overlap shows.
        height = 0.6 if row in ("step", "learner") else 0.45
        for s in inside:
            ax.broken_barh(
                [(s["start"], max(s["end"] - s["start"], 0.05))],
                (y - height / 2, height),
                facecolors=colour.get(s["step"], "#999999"),
                alpha=0.9 if row == "step" else 0.6,
                edgecolor="black",
                linewidth=0.3,
            )
    handles = [plt.Rectangle((0, 0), 1, 1, color=colour[s]) for s in steps]
    ax.legend(handles, steps, fontsize=8, ncols=min(len(steps), 8), loc="upper center", bbox_to_anchor=(0.5, -0.3))
    ax.set_yticks(range(len(rows)), rows)
    ax.invert_yaxis()
    ax.set_xlabel("seconds since the run's first step began")
    ax.set_title("Timeline of stage spans (colour: the run step)")
    ax.grid(alpha=0.3, axis="x")
    return _save(fig, path)


def plot_report(report: dict, directory: Path) -> dict[str, str]:
    """Every figure of a report under `directory`: {name: file name} of those drawn."""
    drawn = {
        "accuracy": plot_accuracy(report["evaluations"], directory / "accuracy.png"),
        "families": plot_families(report.get("families", []), directory / "families.png"),
        "training": plot_training(report.get("curves", {}), directory / "training.png"),
        "timeline": plot_timeline(report.get("timeline", {}), directory / "timeline.png"),
    }
    return {name: path.name for name, path in drawn.items() if path is not None}
