"""`orca-ray synthesize CONFIG [--out DIR]`: Agent-Instruct over the config's seed problems, then the yield summary."""

from __future__ import annotations

import sys

from orca_ray.config import RunConfig, load_config
from orca_ray.core.synthesis_filters import STAGES


def synthesize_and_report(config: RunConfig, out: str | None = None, client_factory=None) -> int:
    """Run (or resume) the synthesis job and print its yield summary; 1 when it kept no problem.
    `client_factory`: scripted model clients (tests)."""
    from orca_ray.core.synthesis_filters import STAGE_HELP
    from orca_ray.distributed.cluster import shutdown_ray
    from orca_ray.distributed.synthesis import run_synthesis

    try:
        summary = run_synthesis(config, out, client_factory=client_factory)
    finally:
        shutdown_ray()
    print(
        f"\nsynthesis: {summary.seeds} seeds, {summary.shards} shards ({summary.shards_run} run, "
        f"{summary.shards_skipped} already done) in {summary.seconds:.0f} s -> {summary.out_dir}"
    )
    print(summary.table())
    if summary.errors:
        failed = ", ".join(f"{agent} {n}" for agent, n in sorted(summary.errors.items()))
        print(f"failed conversations: {failed} (see the log)")
    print("\n" + "\n".join(f"  {stage}: {text}" for stage, text in STAGE_HELP.items()))
    print(f"\nkept problems: {summary.problems_path}")
    if summary.kept == 0:
        print(f"orca-ray: error: {empty_run_message(summary)}", file=sys.stderr)
        return 1
    return 0


def empty_run_message(summary) -> str:
    """Why a synthesis run that kept nothing failed, from its counts: the stage where everything was lost."""
    failed = sum(summary.errors.values())
    where = next((s for s in STAGES if summary.counts.total(s) == 0), "kept")
    text = f"synthesis kept no problems from {summary.seeds} seeds: none passed '{where}'"
    return text + (f"; {failed} model calls failed (see the log)" if failed else "")


def main(args) -> int:
    return synthesize_and_report(load_config(args.config, args.overrides), args.out)
