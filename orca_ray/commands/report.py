"""`orca-ray report RUN_DIR`: write a run's report again (report.json, report.html and its figures) from what the
run directory holds, and print its accuracy table; no Ray, no model."""

from __future__ import annotations

from pathlib import Path


def print_accuracy(report: dict) -> None:
    from orca_ray.core.report import accuracy_table

    print("held-out accuracy (greedy pass@1; [95% Wilson interval] in points):")
    print(accuracy_table(report["evaluations"]))


def main(args) -> int:
    from orca_ray.run_report import write_run_report

    root = Path(args.run_dir)
    report = write_run_report(root)
    print_accuracy(report)
    print(f"\nreport: {root / 'report.html'}")
    return 0
