"""Agent-Instruct as a Ray job: AutoGen's Ask Me Anything and Suggester-Editor over the config's seed problems,
the teacher's k solutions, the filters, Parquet shards (a re-run resumes) and the yield summary.

Locally (starts a local Ray; the embedded default runs the agents on SmolLM2 in a vLLM engine actor):
    python jobs/synthesize.py --config jobs/configs/demo.yaml --set synthesis.seeds=20
On a cluster:
    ray job submit --working-dir . --runtime-env cluster/runtime_env.yaml -- \
        python jobs/synthesize.py --config jobs/configs/orca-math-7b.yaml --set synthesis.seeds=1000
Output: <output_dir>/<run_id or name>/synthesis/ (or --out): shards/, problems.parquet, summary.json.
"""

from __future__ import annotations

import argparse
import logging
import sys

from orca_ray.commands.synthesize import synthesize_and_report
from orca_ray.config import RunConfig, load_config
from orca_ray.errors import OrcaRayError


def main(config: RunConfig, out: str | None = None) -> int:
    return synthesize_and_report(config, out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="run config YAML")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", default=None, help="output directory (default: <output_dir>/<run_id>/synthesis)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        sys.exit(main(load_config(args.config, args.overrides), args.out))
    except OrcaRayError as err:
        print(f"synthesize: error: {err}", file=sys.stderr)
        sys.exit(2)
