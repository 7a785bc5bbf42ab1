r"""Greedy pass@1 as a Ray job: the student (or --model, with --adapter) on GSM8K test, one of the config's
`data.eval` sets, or a problems file; a per-problem Parquet and a summary JSON under --out.

Locally (starts a local Ray):
    python jobs/eval.py --config jobs/configs/demo.yaml --data gsm8k-test --limit 100
On a cluster:
    RAY_AUTH_MODE=token ray job submit --working-dir . --runtime-env cluster/runtime_env.yaml -- \
        python jobs/eval.py --config jobs/configs/orca-math-7b.yaml --data gsm8k-test \
        --adapter /shared/runs/<run-id>/iter-2/train/adapter --out /shared/eval
"""

import sys

from orca_ray.cli import run_job

if __name__ == "__main__":
    # `orca-ray eval` under the name `ray job submit` runs: its options, help and work live in orca_ray/.
    sys.exit(run_job("eval", __doc__))
