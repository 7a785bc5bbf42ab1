"""`orca-ray run CONFIG [--resume [--rerun-changed]] [--run-id ID]`: the whole Orca-Math loop, then the report
table."""

from __future__ import annotations

import json

from orca_ray.config import load_config


def run_and_report(config, run_id: str | None, resume: bool, rerun_changed: bool = False) -> int:
    from orca_ray.commands.report import print_accuracy
    from orca_ray.distributed.loop import run_pipeline

    root = run_pipeline(config, run_id=run_id, resume=resume, rerun_changed=rerun_changed)
    report = json.loads((root / "report.json").read_text())
    print(
        f"\nrun {report['run_id']} finished: {report['total_seconds']:.0f} s in its steps "
        f"({report['stage_seconds']:.0f} s data, training and practice; {report['eval_seconds']:.0f} s evaluation)"
        f" -> {root}"
    )
    print_accuracy(report)
    print(f"\nreport: {root / 'report.html'}")
    return 0


def main(args) -> int:
    config = load_config(args.config, args.overrides)
    return run_and_report(config, args.run_id, args.resume, args.rerun_changed)
