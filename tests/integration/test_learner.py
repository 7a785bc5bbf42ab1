"""The learner on Ray Train with the tiny model: SFT learns a toy behaviour (loss falls, greedy output changes, and
the adapter loads in vLLM), DPO streams from Ray Data continuing an adapter, KTO publishes adapter versions, and a
run that crashes after its first checkpoint resumes to the same step count and losses as an uninterrupted one."""

from __future__ import annotations

import dataclasses
import json
import statistics
from pathlib import Path

import pytest

from orca_ray.config import load_config
from orca_ray.core.prompts import student_messages, student_prompt
from orca_ray.distributed.policy_versions import latest_adapter
from orca_ray.models import TINY_MODEL, prepare_model
from orca_ray.schemas import DPOPair, KTOExample, SFTExample

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "jobs" / "configs" / "tiny.yaml"
TARGET = "The answer is 7."
SFT_STEPS = 20
CHECKPOINT_EVERY = 10
# A random 3M model needs a high learning rate to pick up a fixed reply in a few dozen steps (measured: 20 steps).
TOY = [
    "training.lora.r=8",
    "training.lora.alpha=16",
    "training.lr_scheduler=constant",
    "training.sft.learning_rate=5e-3",
    "training.sft.warmup_ratio=0",
    "training.sft.batch_size=4",
    f"training.sft.max_steps={SFT_STEPS}",
    f"training.checkpoint_every_steps={CHECKPOINT_EVERY}",
    "training.preference.learning_rate=5e-3",
    "training.preference.warmup_ratio=0",
    "training.preference.max_steps=4",
]


def _questions(n: int, offset: int = 0) -> list[str]:
    return [f"Tom has {i + offset} apples and buys {2 * i + 1} more. How many apples does he have?" for i in range(n)]


def _sft_rows() -> list[SFTExample]:
    return [SFTExample(f"p{i}", student_prompt(q), TARGET) for i, q in enumerate(_questions(16))]


def _greedy(model, tokenizer, questions: list[str], max_new_tokens: int = 8) -> list[str]:
    import torch

    replies = []
    for q in questions:
        inputs = tokenizer.apply_chat_template(
            student_messages(q), add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        with torch.no_grad():
            out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
        replies.append(tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True))
    return replies


@pytest.fixture(scope="module")
def toy_config():
    return load_config(TINY, TOY)


@pytest.fixture(scope="module")
def tiny_dir() -> str:
    return str(prepare_model(TINY_MODEL))


@pytest.fixture(scope="module")
def sft_result(ray_local, toy_config, tiny_dir, tmp_path_factory):
    """The uninterrupted SFT run (20 steps, checkpoints every 10): the toy task and the resume reference."""
    from orca_ray.distributed.learner import train_policy

    out = tmp_path_factory.mktemp("sft")
    return train_policy(toy_config, "sft", _sft_rows(), base_model_dir=tiny_dir, init_adapter=None, output_dir=out)


def test_sft_loss_falls_and_greedy_output_changes(sft_result, tiny_dir):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert sft_result.steps == SFT_STEPS
    losses = [h["train/loss"] for h in sft_result.history]
    assert len(losses) == SFT_STEPS  # logging_steps=1
    assert statistics.fmean(losses[-5:]) < statistics.fmean(losses[:5]) - 0.3, losses
    for key in ("train/step_seconds", "train/tokens_per_second", "train/loss", "train/loss_first"):
        assert sft_result.metrics[key] > 0, key

    adapter = Path(sft_result.adapter_dir)
    assert {"adapter_config.json", "adapter_model.safetensors"} <= {p.name for p in adapter.iterdir()}
    targets = json.loads((adapter / "adapter_config.json").read_text())["target_modules"]
    assert "q_proj" in targets and all("." not in t for t in targets)  # short names: what vLLM matches

    held_out = _questions(4, offset=100)
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    base = AutoModelForCausalLM.from_pretrained(tiny_dir)
    before = _greedy(base, tokenizer, held_out)
    after = _greedy(PeftModel.from_pretrained(base, str(adapter)), tokenizer, held_out)
    assert not any(r.startswith("The answer is 7") for r in before), before
    assert all(r.startswith("The answer is 7") for r in after), after


def test_crashed_run_resumes_to_the_same_steps_and_losses(ray_local, toy_config, tiny_dir, sft_result, tmp_path):
    import ray.train

    from orca_ray.distributed.learner import train_policy

    kwargs = dict(base_model_dir=tiny_dir, init_adapter=None, output_dir=tmp_path)
    with pytest.raises(ray.train.TrainingFailedError, match="fault injected"):
        train_policy(toy_config, "sft", _sft_rows(), fail_after_step=CHECKPOINT_EVERY, **kwargs)
    assert not (tmp_path / "adapter").exists()
    resumed = train_policy(toy_config, "sft", _sft_rows(), resume=True, **kwargs)

    assert resumed.steps == sft_result.steps == SFT_STEPS
    steps = [h["step"] for h in resumed.history]
    assert steps == list(range(1, SFT_STEPS + 1))  # the history before the crash came back with the checkpoint
    uninterrupted = [h["train/loss"] for h in sft_result.history]
    assert [h["train/loss"] for h in resumed.history] == pytest.approx(uninterrupted, rel=1e-3)
    # Asking again returns the finished result instead of training more.
    assert train_policy(toy_config, "sft", _sft_rows(), resume=True, **kwargs).steps == SFT_STEPS


def test_dpo_streams_from_ray_data_and_continues_an_adapter(ray_local, toy_config, tiny_dir, sft_result, tmp_path):
    import ray.data
    from safetensors.torch import load_file

    from orca_ray.distributed.learner import train_policy

    config = load_config(TINY, [*TOY, "training.preference.rpo_alpha=0.5", "training.preference.max_steps=null"])
    pairs = [
        dataclasses.asdict(DPOPair(f"p{i}", student_prompt(q), TARGET, "The answer is 3."))
        for i, q in enumerate(_questions(16))
    ]
    stream = ray.data.from_items(pairs).map(lambda row: row)  # lazy: read by the worker as it is produced
    result = train_policy(
        config,
        "dpo",
        stream,
        base_model_dir=tiny_dir,
        init_adapter=sft_result.adapter_dir,
        output_dir=tmp_path,
        expected_rows=2 * len(pairs),  # an upper bound, as the pipeline gives: plans 8 steps
    )
    assert result.steps == 4  # the stream ended after 16 rows / batch 4, and so did training
    margins = [h["train/rewards_margins"] for h in result.history]
    # The reference is the starting adapter: no margin before the first update, a positive one after.
    assert margins[0] == pytest.approx(0.0, abs=1e-4) and margins[-1] > 0, margins
    assert not (Path(result.adapter_dir) / "ref").exists()  # TRL's frozen reference copy is not published
    start = load_file(Path(sft_result.adapter_dir) / "adapter_model.safetensors")
    trained = load_file(Path(result.adapter_dir) / "adapter_model.safetensors")
    assert start.keys() == trained.keys()
    assert any(not start[k].equal(trained[k]) for k in start)


def test_kto_reports_kl_and_publishes_versions(ray_local, tiny_dir, tmp_path):
    from orca_ray.distributed.learner import train_policy

    config = load_config(TINY, [*TOY, "loop.publish_every_steps=2"])
    rows = [
        KTOExample(f"p{i}", student_prompt(q), TARGET if i % 2 else "The answer is 3.", bool(i % 2))
        for i, q in enumerate(_questions(16))
    ]
    publish = tmp_path / "published"
    result = train_policy(
        config, "kto", rows, base_model_dir=tiny_dir, init_adapter=None, output_dir=tmp_path, publish_dir=str(publish)
    )
    assert result.steps == 4
    assert "train/kl" in result.metrics and result.history[-1]["train/rewards_margins"] > 0
    assert result.published == [[1, 2], [2, 4]]
    version, path = latest_adapter(publish)
    assert version == 2 and Path(path) == publish / "v0002"
    assert json.loads((publish / "latest.json").read_text())["step"] == 4
    assert (publish / "v0001" / "adapter_config.json").is_file()


def test_an_empty_stream_keeps_the_starting_adapter(ray_local, toy_config, tiny_dir, sft_result, tmp_path):
    """An iteration whose verdicts were all undecidable streams no rows: the policy stays, nothing fails."""
    import ray.data
    from safetensors.torch import load_file

    from orca_ray.distributed.learner import train_policy

    rows = [dataclasses.asdict(KTOExample(f"p{i}", student_prompt(q), TARGET, True)) for i, q in enumerate("abcd")]
    nothing = ray.data.from_items(rows).filter(lambda row: False)  # lazy, and ends before its first row
    result = train_policy(
        toy_config, "kto", nothing, base_model_dir=tiny_dir, init_adapter=sft_result.adapter_dir, output_dir=tmp_path
    )
    assert result.steps == 0 and result.history == []
    start = load_file(Path(sft_result.adapter_dir) / "adapter_model.safetensors")
    kept = load_file(Path(result.adapter_dir) / "adapter_model.safetensors")
    assert start.keys() == kept.keys() and all(start[k].equal(kept[k]) for k in start)


def test_saved_adapter_loads_in_vllm(sft_result, tiny_session):
    """The samplers' path: the shared tiny engine actor (vLLM, LoRA on) loads the adapter by its directory."""
    import ray

    engine = tiny_session.student.handles[0]
    conversations = [student_messages(q) for q in _questions(3, offset=200)]
    greedy = {"temperature": 0.0, "max_tokens": 8}
    base = [c[0].text for c in ray.get(engine.chat.remote(conversations, greedy))]
    tuned = [c[0].text for c in ray.get(engine.chat.remote(conversations, greedy, sft_result.adapter_dir))]
    assert not any(t.startswith("The answer is 7") for t in base), base
    assert all(t.startswith("The answer is 7") for t in tuned), tuned


def test_streaming_without_a_length_is_refused(toy_config, tiny_dir):
    from orca_ray.distributed.learner import learner_spec
    from orca_ray.errors import ConfigError

    config = load_config(TINY, [*TOY, "training.preference.max_steps=null"])
    with pytest.raises(ConfigError, match="max_steps"):
        learner_spec(config, "kto", base_model_dir=tiny_dir, init_adapter=None, streaming=True, rows=None)
    spec = learner_spec(config, "kto", base_model_dir=tiny_dir, init_adapter=None, streaming=True, rows=33)
    assert spec.max_steps == 9 and spec.precision in ("fp32", "bf16") and not spec.use_gpu
    with pytest.raises(ConfigError, match="training.preference.batch_size"):
        bad = load_config(TINY, ["training.preference.batch_size=1"])
        learner_spec(bad, "kto", base_model_dir=tiny_dir, init_adapter=None, streaming=False, rows=10)


def test_cli_reads_training_rows_and_names_bad_lines(tmp_path):
    from orca_ray.commands.train import read_training_rows
    from orca_ray.errors import DataError
    from orca_ray.schemas import Problem, write_rows

    rows = [KTOExample(f"p{i}", student_prompt(q), "x", bool(i % 2)) for i, q in enumerate(_questions(5))]
    write_rows(tmp_path / "kto" / "shard-00000.parquet", rows[:3], KTOExample)
    write_rows(tmp_path / "kto" / "shard-00001.parquet", rows[3:], KTOExample)
    read = read_training_rows(tmp_path / "kto", "kto")
    assert [r["problem_id"] for r in read] == [r.problem_id for r in rows]
    with pytest.raises(DataError, match=r"shard-00000.parquet:1: a dpo row needs column\(s\) \['chosen', 'rejected'\]"):
        read_training_rows(tmp_path / "kto", "dpo")

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "q", "chosen": "a", "rejected": "b"}\n{"prompt": "q", "chosen": "a"}\n')
    with pytest.raises(DataError, match=r"bad.jsonl:2: a dpo row needs column\(s\) \['rejected'\]"):
        read_training_rows(bad, "dpo")

    problems = tmp_path / "problems.jsonl"
    lines = [Problem(id="a", question="1+1?", answer="2", solution="1+1=2.\nThe answer is 2."), Problem("b", "2+2?")]
    problems.write_text("".join(json.dumps(dataclasses.asdict(p)) + "\n" for p in lines))
    sft = read_training_rows(problems, "sft")
    assert [(r["prompt"], r["completion"]) for r in sft] == [(student_prompt("1+1?"), "1+1=2.\nThe answer is 2.")]


@pytest.mark.parametrize(
    "module_name",
    ["orca_ray.distributed.policy_versions", "orca_ray.distributed.learner", "orca_ray.distributed.learner_worker"],
)
def test_docstring_examples(module_name):
    import doctest
    import importlib

    failures, tried = doctest.testmod(importlib.import_module(module_name))
    assert failures == 0 and tried > 0
