"""`orca-ray sample CONFIG --problems FILE --out DIR`: student samples with verdicts, as Parquet shards."""

from __future__ import annotations

import json
from pathlib import Path

from orca_ray.config import load_config


def main(args) -> int:
    from orca_ray.commands.common import source_for_file
    from orca_ray.core.practice import verdict_counts
    from orca_ray.core.stage_settings import student_sampling
    from orca_ray.data.readers import read_problems
    from orca_ray.distributed.rounds import open_session, sample_and_judge
    from orca_ray.models import prepare_model

    config = load_config(args.config, args.overrides)
    out = Path(args.out)
    read = read_problems(source_for_file(args.problems), on_bad_row=config.data.on_bad_row, quarantine_dir=out)
    print(read.summary())
    model_dir = str(prepare_model(config.student.model))
    with open_session(config, model_dir) as session:
        verdicts = sample_and_judge(
            session, read.problems, out, student_sampling(config), adapter=config.student.adapter
        )
    counts = verdict_counts(verdicts)
    (out / "summary.json").write_text(json.dumps({"problems": len(read.problems), **counts}, indent=2))
    print(f"{counts['samples']} samples of {len(read.problems)} problems -> {out}/verdicts/: {counts}")
    return 0
