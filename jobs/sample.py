r"""Student sampling as a Ray job: `sampling.n` answers per problem from the student's vLLM engines (with
`student.adapter` if set), judged against the problems' reference answers, as Parquet shards under --out.

Locally (starts a local Ray):
    orca-ray problems generate --n 64 --seed 1 --out /tmp/problems.jsonl
    python jobs/sample.py --config jobs/configs/tiny.yaml --problems /tmp/problems.jsonl --out /tmp/samples
On a cluster (--problems and --out on storage every node sees):
    RAY_AUTH_MODE=token ray job submit --working-dir . --runtime-env cluster/runtime_env.yaml -- \
        python jobs/sample.py --config jobs/configs/orca-math-7b.yaml --problems /shared/p.jsonl --out /shared/s
Output: <out>/verdicts/ (one Parquet file per shard), <out>/summary.json, <out>/quarantine.jsonl for bad rows.
"""

import sys

from orca_ray.cli import run_job

if __name__ == "__main__":
    # `orca-ray sample` under the name `ray job submit` runs: its options, help and work live in orca_ray/.
    sys.exit(run_job("sample", __doc__))
