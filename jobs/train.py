"""One learner run as a Ray job: SFT, DPO or KTO with TRL (+ PEFT LoRA) on Ray Train, from training rows on disk;
checkpoints every `training.checkpoint_every_steps`, `--resume` continues after a crash, and the adapter (or model)
lands in <out>/adapter (<out>/model) for the samplers.

Locally (starts a local Ray; tiny model, a few steps):
    orca-ray models prepare tiny-llama
    orca-ray problems generate --n 32 --seed 1 --out /tmp/problems.jsonl
    python jobs/train.py --config jobs/configs/tiny.yaml --method sft --data /tmp/problems.jsonl --out /tmp/sft
    python jobs/train.py --config jobs/configs/tiny.yaml --method kto --data runs/<run>/iter-1/preferences \
        --set student.adapter=/tmp/sft/adapter --out /tmp/kto
On a cluster (the data and --out on storage every node sees):
    RAY_AUTH_MODE=token ray job submit --working-dir . --runtime-env cluster/runtime_env.yaml -- \
        python jobs/train.py --config jobs/configs/orca-math-7b.yaml --method sft --data /shared/sft --out /shared/sft
Output: <out>/adapter/ (LoRA) or <out>/model/ (full), <out>/train_result.json, <out>/ray-train/ (checkpoints).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from orca_ray.commands.train import train_from_files
from orca_ray.config import RunConfig, load_config
from orca_ray.errors import OrcaRayError


def main(config: RunConfig, method: str, data: str, out: str | None = None, resume: bool = False) -> int:
    result = train_from_files(config, method, data, out, resume)
    print(json.dumps({"steps": result.steps, "policy_dir": result.policy_dir, **result.metrics}, indent=1))
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="run config YAML")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--method", choices=["sft", "dpo", "kto"], required=True)
    parser.add_argument("--data", required=True, help="Parquet shards / Parquet or JSONL file of training rows")
    parser.add_argument("--out", default=None, help="output directory (default: <output_dir>/train-<method>)")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        sys.exit(main(load_config(args.config, args.overrides), args.method, args.data, args.out, args.resume))
    except OrcaRayError as err:
        print(f"train: error: {err}", file=sys.stderr)
        sys.exit(2)
