"""The sampler and judge stages on Ray Data with vLLM engine actors (CPU): rows are neither lost nor duplicated,
adapters switch between batches without a restart, and evaluation runs end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from orca_ray.schemas import VERDICTS, Problem

pytestmark = pytest.mark.slow


def _problems(n: int) -> list[Problem]:
    from orca_ray.core.problems import generate_problems

    return generate_problems(n, seed=123, max_steps=2)


def _count_rows(verdicts, problems, per_problem):
    counts = Counter(v.problem_id for v in verdicts)
    assert set(counts) == {p.id for p in problems}
    assert set(counts.values()) == {per_problem}
    assert len({(v.problem_id, v.sample_index) for v in verdicts}) == len(verdicts)  # no duplicates
    assert {v.verdict for v in verdicts} <= set(VERDICTS)


def test_64_problems_x4_stream_through_sampler_and_judge(tiny_session, tmp_path):
    from orca_ray.core.stage_settings import Sampling
    from orca_ray.distributed.rounds import sample_and_judge

    problems = _problems(64)
    sampling = Sampling(n=4, temperature=1.0, top_p=0.95, max_tokens=12, seed=0)
    verdicts = sample_and_judge(tiny_session, problems, tmp_path, sampling, shard_size=8)
    _count_rows(verdicts, problems, per_problem=4)
    assert len(list((tmp_path / "verdicts").glob("shard-*.parquet"))) == 8
    # The judge never guesses: a response without a number is undecidable, not incorrect.
    for v in verdicts:
        if v.predicted is None:
            assert v.verdict == "undecidable"


def test_smollm2_32_problems_x4_stream_through_sampler_and_judge(tiny_session, tmp_path):
    """The same count, on half the problems, with the embedded student (a real instruct model whose answers the judge
    must parse), on an engine of its own beside the shared tiny one, in the same local Ray."""
    from orca_ray.config import load_config
    from orca_ray.core.stage_settings import student_sampling
    from orca_ray.distributed.rounds import open_session, sample_and_judge
    from orca_ray.models import EMBEDDED_STUDENT, prepare_model

    demo = Path(__file__).resolve().parents[2] / "jobs" / "configs" / "demo.yaml"
    config = load_config(demo, ["sampling.max_tokens=24", "resources.dashboard=false"])
    problems = _problems(32)
    with open_session(config, str(prepare_model(EMBEDDED_STUDENT))) as session:
        verdicts = sample_and_judge(session, problems, tmp_path, student_sampling(config), shard_size=8)
    _count_rows(verdicts, problems, per_problem=4)
    assert len(list((tmp_path / "verdicts").glob("shard-*.parquet"))) == 4
    assert sum(v.num_tokens for v in verdicts) > 0
    # The judge never guesses: no answer found means undecidable; a decided row names both answers it compared.
    for v in verdicts:
        if v.predicted is None:
            assert v.verdict == "undecidable"
        if v.verdict in ("correct", "incorrect"):
            assert v.predicted is not None and v.expected is not None


def _random_lora(model_dir: str, out_dir) -> str:
    """A LoRA adapter with random (not zero-initialized) weights: it must change what the model says."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    peft_model = get_peft_model(
        model, LoraConfig(r=4, lora_alpha=64, target_modules=["q_proj", "v_proj", "o_proj"], init_lora_weights=False)
    )
    peft_model.save_pretrained(out_dir)
    return str(out_dir)


def test_adapter_changes_output_and_switches_back_without_restart(tiny_session, tmp_path):
    import ray

    problems = _problems(6)
    greedy = {"n": 1, "temperature": 0.0, "max_tokens": 12}
    from orca_ray.core.prompts import student_messages

    engine = tiny_session.student.handles[0]
    conversations = [student_messages(p.question) for p in problems]
    adapter = _random_lora(tiny_session.student_model_dir, tmp_path / "adapter")
    base = [c[0].text for c in ray.get(engine.chat.remote(conversations, greedy))]
    tuned = [c[0].text for c in ray.get(engine.chat.remote(conversations, greedy, adapter))]
    again = [c[0].text for c in ray.get(engine.chat.remote(conversations, greedy))]
    assert tuned != base
    assert again == base  # the base weights are untouched by the adapter
    # A file:// URI goes through the cloud-storage path (copied locally once), and gives the same output.
    via_uri = [c[0].text for c in ray.get(engine.chat.remote(conversations, greedy, f"file://{adapter}"))]
    assert via_uri == tuned


def test_missing_adapter_is_a_clear_error(tiny_session, tmp_path):
    import ray

    from orca_ray.errors import EngineError

    engine = tiny_session.student.handles[0]
    with pytest.raises(EngineError, match="not a PEFT adapter directory"):
        try:
            ray.get(engine.chat.remote([[{"role": "user", "content": "hi"}]], {"max_tokens": 2}, str(tmp_path)))
        except ray.exceptions.RayTaskError as err:
            raise err.cause from None


def test_eval_on_gsm8k_test_end_to_end(tiny_session, tmp_path, gsm8k_dir):
    from orca_ray.commands.common import source_for_file
    from orca_ray.data.readers import read_problems
    from orca_ray.distributed.rounds import evaluate

    source = source_for_file(str(gsm8k_dir / "test.jsonl"), limit=100)
    problems = read_problems(source).problems
    assert len(problems) == 100
    summary = evaluate(tiny_session, problems, tmp_path, "gsm8k-test", max_tokens=8)
    assert summary["problems"] == 100
    assert summary["correct"] + summary["incorrect"] + summary["undecidable"] == 100
    assert json.loads((tmp_path / "gsm8k-test.summary.json").read_text())["problems"] == 100
    assert (tmp_path / "gsm8k-test.parquet").is_file()


def test_eval_cli_reports_missing_file_clearly(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "orca_ray.cli", "eval", "jobs/configs/tiny.yaml", "--data", str(tmp_path / "no.jsonl")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "no.jsonl: problems file not found" in result.stderr


def test_stages_of_equal_concurrency_stay_separate_operators(ray_local):
    # Fused, a shard would keep its sampler slot while the teacher solves and judges it.
    import ray
    from ray.data import TaskPoolStrategy

    from orca_ray.distributed.rounds import map_stage

    # Defined here, so that Ray's workers receive them by value (they cannot import a test module).
    def _solve_step(batch):
        return {"shard": batch["shard"], "steps": [f"{batch['steps'][0]}>solve"]}

    def _sample_step(batch):
        return {"shard": batch["shard"], "steps": [f"{batch['steps'][0]}>sample"]}

    options = {"num_cpus": 0.1, "compute": TaskPoolStrategy(size=2)}
    ds = ray.data.from_items([{"shard": i, "steps": "in"} for i in range(4)], override_num_blocks=4)
    ds = map_stage(map_stage(ds, _solve_step, {}, options), _sample_step, {}, options)
    rows = sorted(ds.take_all(), key=lambda r: r["shard"])
    assert [r["steps"] for r in rows] == ["in>solve>sample"] * 4
    operators = [line for line in ds.stats().splitlines() if line.startswith("Operator")]
    assert any("MapBatches(_solve_step):" in line for line in operators), operators
    assert any("MapBatches(_sample_step):" in line for line in operators), operators
