"""Greedy pass@1 as a Ray job: the student (or --model, with --adapter) on GSM8K test, one of the config's
`data.eval` sets, or a problems file; a per-problem Parquet and a summary JSON under --out.

Locally (starts a local Ray):
    python jobs/eval.py --config jobs/configs/demo.yaml --data gsm8k-test --limit 100
On a cluster:
    RAY_AUTH_MODE=token ray job submit --working-dir . --runtime-env cluster/runtime_env.yaml -- \
        python jobs/eval.py --config jobs/configs/orca-math-7b.yaml --data gsm8k-test \
        --adapter /shared/runs/<run-id>/iter-2/train/adapter --out /shared/eval
"""

from __future__ import annotations

import argparse
import logging
import sys

from orca_ray.commands import eval as eval_command
from orca_ray.errors import OrcaRayError

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="run config YAML")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--data", required=True, help="gsm8k-test, a config eval set name, or a problems file")
    parser.add_argument("--model", default=None, help="model name or path (default: the config's student)")
    parser.add_argument("--adapter", default=None, help="LoRA adapter directory")
    parser.add_argument("--limit", type=int, default=None, help="evaluate at most N problems")
    parser.add_argument("--out", default=None, help="output directory (default: <output_dir>/eval-<timestamp>)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        sys.exit(eval_command.main(args))
    except OrcaRayError as err:
        print(f"eval: error: {err}", file=sys.stderr)
        sys.exit(2)
