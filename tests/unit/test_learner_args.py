"""The learner's TRL arguments carry the config's preference settings (a silently dropped class weight would leave
KTO unbalanced)."""

from __future__ import annotations

import dataclasses

from orca_ray.config import load_config
from orca_ray.distributed.learner import learner_spec
from orca_ray.distributed.learner_worker import _trainer_args


def test_kto_class_weights_and_dpo_nll_term_reach_trl(tmp_path):
    config = load_config(
        "jobs/configs/tiny.yaml",
        [
            "training.preference.desirable_weight=2.0",
            "training.preference.undesirable_weight=0.5",
            "training.preference.beta=0.2",
        ],
    )
    spec = learner_spec(config, "kto", base_model_dir="m", init_adapter=None, streaming=False, rows=10)
    args = _trainer_args(spec, str(tmp_path))
    assert (args.desirable_weight, args.undesirable_weight, args.beta) == (2.0, 0.5, 0.2)
    dpo = _trainer_args(dataclasses.replace(spec, method="dpo", rpo_alpha=1.0), str(tmp_path))
    assert list(dpo.loss_type) == ["sigmoid", "sft"] and list(dpo.loss_weights) == [1.0, 1.0]
