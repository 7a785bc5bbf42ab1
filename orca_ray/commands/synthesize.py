"""`orca-ray synthesize CONFIG [--out DIR]`: Agent-Instruct over the config's seed problems, then the yield summary."""

from __future__ import annotations

from orca_ray.config import RunConfig, load_config


def synthesize_and_report(config: RunConfig, out: str | None = None) -> int:
    """Run (or resume) the synthesis job and print its yield summary."""
    from orca_ray.core.synthesis_filters import STAGE_HELP
    from orca_ray.distributed.cluster import shutdown_ray
    from orca_ray.distributed.synthesis import run_synthesis

    try:
        summary = run_synthesis(config, out)
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
    return 0


def main(args) -> int:
    return synthesize_and_report(load_config(args.config, args.overrides), args.out)
