r"""The whole Orca-Math loop as a Ray job: problems (and synthesis), SFT, N practice-and-feedback iterations,
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

import sys

from orca_ray.cli import run_job

if __name__ == "__main__":
    # `orca-ray run` under the name `ray job submit` runs: its options, help and work live in orca_ray/.
    sys.exit(run_job("run", __doc__))
