"""`orca-ray eval CONFIG --data gsm8k-test|SET|FILE [--model M] [--adapter DIR] [--limit N]`: greedy pass@1."""

from __future__ import annotations

import json
import time
from pathlib import Path

from orca_ray.config import load_config


def main(args) -> int:
    from orca_ray.commands.common import resolve_data_arg
    from orca_ray.data.readers import read_problems
    from orca_ray.distributed.rounds import evaluate, open_session
    from orca_ray.models import prepare_model

    config = load_config(args.config, args.overrides)
    name, source = resolve_data_arg(args.data, config, args.limit)
    out = Path(args.out) if args.out else Path(config.output_dir) / f"eval-{time.strftime('%Y%m%d-%H%M%S')}"
    out.mkdir(parents=True, exist_ok=True)
    read = read_problems(source, on_bad_row=config.data.on_bad_row, quarantine_dir=out)
    print(read.summary())
    model_dir = str(prepare_model(args.model or config.student.model))
    adapter = args.adapter or config.student.adapter
    with open_session(config, model_dir) as session:
        summary = evaluate(session, read.problems, out, name, adapter=adapter)
    print(json.dumps(summary, indent=2))
    print(f"pass@1 on {name}: {summary['accuracy']:.1%} ({summary['correct']}/{summary['problems']}) -> {out}")
    return 0
