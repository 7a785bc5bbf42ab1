"""The judge stage of a practice round, without Ray: rules first, a scripted teacher for what rules cannot
decide, shard files written with verdicts last (they mark a shard done), preference rows emitted."""

from __future__ import annotations

import json

from orca_ray.config import load_config
from orca_ray.core.stage_settings import judging, preferences
from orca_ray.distributed.stages import PROBLEMS, SAMPLES, JudgeStage, _dump
from orca_ray.schemas import KTOExample, Problem, Sample, Verdict, read_rows

PROBLEM = Problem(
    id="p1", question="Tom has 3 apples and buys 2. How many?", answer="5", solution="3 + 2 = 5.\nThe answer is 5."
)
RESPONSES = ["He has 3 + 2 = 5 apples.\nThe answer is 5.", "The answer is 6.", "I am not sure, maybe five apples."]


class ScriptedTeacher:
    def __init__(self, reply: str):
        self.reply = reply
        self.asked: list[list[dict]] = []

    def chat(self, conversations, sampling):
        self.asked += conversations
        return [[self.reply] for _ in conversations]


def _batch():
    samples = [Sample("p1", i, PROBLEM.question, r, num_tokens=5, policy_version=2) for i, r in enumerate(RESPONSES)]
    return {
        "shard": [3],
        PROBLEMS: [_dump([PROBLEM])],
        SAMPLES: [_dump(samples)],
        "sample_tokens": [15],
        "sample_seconds": [0.5],
    }


def _settings(llm_tier=True, audit_share=0.0):
    return judging(load_config(None, [f"judge.llm_tier={str(llm_tier).lower()}", f"judge.audit_share={audit_share}"]))


def _preferences(*overrides: str):
    return preferences(load_config(None, list(overrides)))


def test_llm_tier_decides_only_what_rules_cannot(tmp_path):
    teacher = ScriptedTeacher("The student reasoned it out.\nFinal Verdict: Correct")
    stage = JudgeStage(
        _settings(),
        teacher,
        out_dir=str(tmp_path),
        emit="preferences",
        preferences=_preferences("training.preference.method=kto"),
    )
    table = stage(_batch())
    verdicts = {v.sample_index: v for v in read_rows(tmp_path / "verdicts" / "shard-00003.parquet", Verdict)}
    assert [(verdicts[i].verdict, verdicts[i].judge_tier) for i in range(3)] == [
        ("correct", "rule"),
        ("incorrect", "rule"),
        ("correct", "llm"),
    ]
    assert len(teacher.asked) == 1 and RESPONSES[2] in teacher.asked[0][-1]["content"]
    rows = read_rows(tmp_path / "preferences" / "shard-00003.parquet", KTOExample)
    assert table.num_rows == len(rows)
    assert sorted((r.label, r.origin) for r in rows) == [
        (False, "student"),
        (True, "student"),
        (True, "student"),
        (True, "teacher"),
    ]
    assert all(r.policy_version == 2 for r in rows if r.origin == "student")
    counts = json.loads((tmp_path / "counts" / "shard-00003.json").read_text())
    assert counts["judge_correct"] == 2 and counts["judge_incorrect"] == 1 and counts["sample_tokens"] == 15


def test_without_llm_tier_undecidable_rows_stay_out_of_training(tmp_path):
    stage = JudgeStage(
        _settings(llm_tier=False),
        ScriptedTeacher("Final Verdict: Correct"),
        out_dir=str(tmp_path),
        emit="preferences",
        preferences=_preferences("training.preference.method=kto"),
    )
    stage(_batch())
    verdicts = read_rows(tmp_path / "verdicts" / "shard-00003.parquet", Verdict)
    assert sorted(v.verdict for v in verdicts) == ["correct", "incorrect", "undecidable"]
    rows = read_rows(tmp_path / "preferences" / "shard-00003.parquet", KTOExample)
    assert RESPONSES[2] not in {r.completion for r in rows}


def test_audit_disagreement_keeps_the_rule_verdict(tmp_path):
    teacher = ScriptedTeacher("Final Verdict: Incorrect")
    stage = JudgeStage(_settings(audit_share=1.0), teacher, out_dir=None, emit="verdicts")
    verdicts = {r["sample_index"]: r for r in stage(_batch()).to_pylist()}
    assert len(teacher.asked) == 3  # every row audited
    assert verdicts[0]["verdict"] == "correct" and "disagree" in verdicts[0]["judge_reason"]
    assert verdicts[2]["verdict"] == "incorrect" and verdicts[2]["judge_tier"] == "llm"


def test_the_llm_tier_and_the_audit_share_are_counted(tmp_path):
    stage = JudgeStage(
        _settings(audit_share=1.0),
        ScriptedTeacher("Final Verdict: Correct"),
        out_dir=str(tmp_path),
        emit="preferences",
        preferences=_preferences("training.preference.method=kto"),
    )
    stage(_batch())
    counts = json.loads((tmp_path / "counts" / "shard-00003.json").read_text())
    # Rows 0 and 1 are decided by the rules and audited; row 2 is the LLM tier's.
    assert (counts["judge_audited"], counts["judge_tier_rule"], counts["judge_tier_llm"]) == (2, 2, 1)


def test_dpo_pairs_from_a_shard(tmp_path):
    stage = JudgeStage(
        _settings(llm_tier=False),
        None,
        out_dir=str(tmp_path),
        emit="preferences",
        preferences=_preferences("training.preference.method=dpo", "training.preference.max_pairs_per_problem=4"),
    )
    table = stage(_batch())
    pairs = table.to_pylist()
    assert pairs and all(p["chosen"] != p["rejected"] for p in pairs)
    assert {p["rejected"] for p in pairs} == {RESPONSES[1]}
