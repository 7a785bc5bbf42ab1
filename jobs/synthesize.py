r"""Agent-Instruct as a Ray job: AutoGen's Ask Me Anything and Suggester-Editor over the config's seed problems,
the teacher's k solutions, the filters, Parquet shards (a re-run resumes) and the yield summary.

Locally (starts a local Ray; the embedded default runs the agents on SmolLM2 in a vLLM engine actor):
    python jobs/synthesize.py --config jobs/configs/demo.yaml --set synthesis.seeds=20
On a cluster:
    ray job submit --working-dir . --runtime-env cluster/runtime_env.yaml -- \
        python jobs/synthesize.py --config jobs/configs/orca-math-7b.yaml --set synthesis.seeds=1000
Output: <output_dir>/<run_id or name>/synthesis/ (or --out): shards/, problems.parquet, summary.json.
"""

import sys

from orca_ray.cli import run_job

if __name__ == "__main__":
    # `orca-ray synthesize` under the name `ray job submit` runs: its options, help and work live in orca_ray/.
    sys.exit(run_job("synthesize", __doc__))
