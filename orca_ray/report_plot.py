"""The accuracy-per-stage plot of a run report (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path


def plot_accuracy(evals: list[dict], path: Path) -> Path | None:
    """One line per evaluation set: greedy pass@1 after each stage. None when there is nothing to plot."""
    if not evals:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stages = list(dict.fromkeys(e["stage"] for e in evals))
    sets = list(dict.fromkeys(e["set"] for e in evals))
    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=100)
    for name in sets:
        points = {e["stage"]: e["accuracy"] for e in evals if e["set"] == name}
        xs = [i for i, stage in enumerate(stages) if stage in points]
        ax.plot(xs, [100 * points[stages[i]] for i in xs], marker="o", label=name)
    ax.set_xticks(range(len(stages)), stages)
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title("Held-out accuracy after each stage (greedy pass@1)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
