r"""One learner run as a Ray job: SFT, DPO or KTO with TRL (+ PEFT LoRA) on Ray Train, from training rows on disk;
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

import sys

from orca_ray.cli import run_job

if __name__ == "__main__":
    # `orca-ray train` under the name `ray job submit` runs: its options, help and work live in orca_ray/.
    sys.exit(run_job("train", __doc__))
