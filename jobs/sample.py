"""Student sampling as a Ray job: `sampling.n` answers per problem from the student's vLLM engines (with
`student.adapter` if set), judged against the problems' reference answers, as Parquet shards under --out.

Locally (starts a local Ray):
    orca-ray problems generate --n 64 --seed 1 --out /tmp/problems.jsonl
    python jobs/sample.py --config jobs/configs/tiny.yaml --problems /tmp/problems.jsonl --out /tmp/samples
On a cluster (--problems and --out on storage every node sees):
    RAY_AUTH_MODE=token ray job submit --working-dir . --runtime-env cluster/runtime_env.yaml -- \
        python jobs/sample.py --config jobs/configs/orca-math-7b.yaml --problems /shared/p.jsonl --out /shared/s
Output: <out>/verdicts/ (one Parquet file per shard), <out>/summary.json, <out>/quarantine.jsonl for bad rows.
"""

from __future__ import annotations

import argparse
import logging
import sys

from orca_ray.commands import sample
from orca_ray.errors import OrcaRayError

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="run config YAML")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--problems", required=True, help="problems file (JSONL, GSM8K JSONL, Parquet or CSV)")
    parser.add_argument("--out", required=True, help="output directory")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        sys.exit(sample.main(args))
    except OrcaRayError as err:
        print(f"sample: error: {err}", file=sys.stderr)
        sys.exit(2)
