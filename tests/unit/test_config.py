"""The run config: defaults, presets, overrides and the errors a user sees."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from orca_ray.config import RunConfig, describe_fields, dump_config, load_config
from orca_ray.errors import ConfigError

PRESETS = sorted((Path(__file__).resolve().parents[2] / "jobs" / "configs").glob("*.yaml"))


def test_presets_exist_and_load():
    names = {p.name for p in PRESETS}
    assert {"tiny.yaml", "demo.yaml", "orca-math-7b.yaml"} <= names
    for preset in PRESETS:
        assert isinstance(load_config(preset), RunConfig)


def test_paper_preset_matches_orca_math():
    cfg = load_config(next(p for p in PRESETS if p.name == "orca-math-7b.yaml"))
    assert (cfg.sampling.n, cfg.sampling.temperature, cfg.sampling.top_p) == (4, 0.7, 0.95)
    assert cfg.resources.teacher.tensor_parallel_size == 4
    assert cfg.training.finetune == "lora"


def test_misspelt_key_names_file_and_key_path(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("sampling:\n  tempreature: 0.5\n")
    with pytest.raises(ConfigError) as err:
        load_config(bad)
    assert str(bad) in str(err.value)
    assert "sampling.tempreature: unknown key" in str(err.value)


def test_wrong_type_names_expected_kind(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("training:\n  lora:\n    r: many\n")
    with pytest.raises(ConfigError, match=r"training\.lora\.r: Input should be a valid integer"):
        load_config(bad)


def test_missing_value_is_reported(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("data:\n  train:\n    - n: 5\n")
    with pytest.raises(ConfigError, match=r"data\.train\.0\.kind: missing value"):
        load_config(bad)


def test_backend_requirements_are_checked():
    with pytest.raises(ConfigError, match="teacher.base_url is required"):
        load_config(None, ["teacher.backend=openai", "teacher.model=gpt"])


def test_overrides_apply_last_and_reach_into_defaults(tmp_path):
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("sampling:\n  n: 3\n")
    cfg = load_config(cfg_file, ["sampling.n=5", "data.train.0.n=7", "training.lora.target_modules=[q_proj]"])
    assert cfg.sampling.n == 5
    assert cfg.data.train[0].n == 7
    assert cfg.data.train[0].seed == 1  # the rest of the default source is kept
    assert cfg.training.lora.target_modules == ["q_proj"]


def test_bad_override_syntax():
    with pytest.raises(ConfigError, match="expected key.path=value"):
        load_config(None, ["sampling.n"])
    with pytest.raises(ConfigError, match="needs an index below 1"):
        load_config(None, ["data.train.3.n=1"])


def test_config_is_frozen():
    cfg = load_config(None)
    with pytest.raises(ValidationError):
        cfg.sampling.n = 9  # type: ignore[misc]


def test_dump_round_trips(tmp_path):
    cfg = load_config(None, ["loop.iterations=5"])
    out = tmp_path / "resolved.yaml"
    out.write_text(dump_config(cfg))
    assert load_config(out) == cfg


def test_every_field_has_help():
    missing = [key for key, _, help_text in describe_fields() if not help_text]
    assert missing == []


def test_not_a_mapping(tmp_path):
    bad = tmp_path / "list.yaml"
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(bad)


def test_a_lora_rank_the_samplers_cannot_load_is_refused_up_front(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("student:\n  max_lora_rank: 8\ntraining:\n  lora:\n    r: 16\n")
    with pytest.raises(ConfigError, match=r"training.lora.r \(16\) is larger than student.max_lora_rank \(8\)"):
        load_config(path)
    path.write_text("student:\n  max_lora_rank: 8\ntraining:\n  finetune: full\n  lora:\n    r: 16\n")
    assert load_config(path).training.lora.r == 16  # full fine-tuning loads no adapter
