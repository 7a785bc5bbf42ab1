"""The whole Orca-Math loop as a Ray job: problems (and synthesis), SFT, N practice-and-feedback iterations,
evaluation after every stage, and the report under <output_dir>/<run_id>/.

Locally (starts a local Ray):
    python jobs/pipeline.py --config jobs/configs/tiny.yaml
On a cluster:
    ray job submit --working-dir . --runtime-env cluster/runtime_env.yaml -- \
        python jobs/pipeline.py --config jobs/configs/orca-math-7b.yaml --set loop.iterations=3
Resume a run that stopped:
    python jobs/pipeline.py --config jobs/configs/tiny.yaml --run-id <run-id> --resume
The job's output (`ray job logs`) is the run's story; Ray, vLLM, Ray Data and Ray Train output goes to
<output_dir>/<run_id>/logs/. --verbose (or ORCA_RAY_LOG_LEVEL=INFO in the runtime_env's env_vars) prints it all.
"""

from __future__ import annotations

import argparse
import sys

from orca_ray.commands.run import run_and_report
from orca_ray.config import RunConfig, load_config
from orca_ray.console import configure_console
from orca_ray.errors import OrcaRayError


def main(config: RunConfig, run_id: str | None = None, resume: bool = False) -> int:
    return run_and_report(config, run_id, resume)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="run config YAML")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--run-id", default=None)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--verbose", action="store_true", help="print everything (DEBUG), not only the story")
    args = parser.parse_args()
    configure_console(args.verbose)
    try:
        sys.exit(main(load_config(args.config, args.overrides), args.run_id, args.resume))
    except OrcaRayError as err:
        print(f"pipeline: error: {err}", file=sys.stderr)
        sys.exit(2)
