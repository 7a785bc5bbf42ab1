"""The tiered judge: the rule tier, the teacher's grading prompt and its strict parser, routing to the LLM tier and
merging its verdict, all with scripted teacher replies (no LLM)."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orca_ray.core.answers import normalize_number
from orca_ray.core.judge import (
    AUDIT_DISAGREEMENT,
    RuleJudgement,
    audit_disagrees,
    audit_fraction,
    expected_answer,
    grading_messages,
    judge_metrics,
    judge_response,
    judge_verdict_row,
    merge_llm_verdict,
    needs_llm,
    parse_grading_reply,
)
from orca_ray.schemas import CORRECT, INCORRECT, UNDECIDABLE, Sample, Verdict

GSM8K_SOLUTION = "Mia packs 48/2 = <<48/2=24>>24 muffins on Tuesday.\nAltogether 48+24 = <<48+24=72>>72.\n#### 72"

# ---------------------------------------------------------------- rule tier


@pytest.mark.parametrize(
    ("response", "reference", "verdict"),
    [
        ("48 + 24 = 72 muffins. The answer is 72.", GSM8K_SOLUTION, CORRECT),
        ("48 + 24 = 70 muffins. The answer is 70.", GSM8K_SOLUTION, INCORRECT),
        ("The answer is $1,200.", "1200", CORRECT),
        ("The answer is 1 1/2 cups.", "1.5", CORRECT),
        ("The answer is \\boxed{\\frac{3}{4}}", "0.75", CORRECT),
        ("Half of it: \\boxed{\\sqrt{4}}", "2", CORRECT),
        ("The answer is -3.", "3", INCORRECT),
        ("I could not solve it.", "12", UNDECIDABLE),
        ("", "12", UNDECIDABLE),
        ("The answer is 12.", "a lot", UNDECIDABLE),
        ("The answer is 12.", "", UNDECIDABLE),
    ],
)
def test_judge_response(response, reference, verdict):
    assert judge_response(response, reference).verdict == verdict


def test_judgement_names_what_it_read_and_why():
    j = judge_response("48 + 24 = 70 muffins. The answer is 70.", GSM8K_SOLUTION)
    assert (j.predicted, j.expected, j.reason) == ("70", "72", "different numbers")
    j = judge_response("The answer is 12.", "no number here")
    assert j.predicted == "12" and j.expected is None and "reference" in j.reason
    j = judge_response("no idea", "12")
    assert j.predicted is None and j.expected == "12" and "response" in j.reason


def test_the_question_decides_percent_answers():
    assert judge_response("The answer is 10%.", "10", "What percent are red?").verdict == CORRECT
    assert judge_response("The answer is 10%.", "10", "How many are red?").verdict == INCORRECT


def test_symbolic_answers_need_math_verify():
    j = judge_response("\\boxed{\\sqrt{4}}", "2", use_math_verify=False)
    assert j.verdict == UNDECIDABLE
    assert judge_response("\\boxed{\\sqrt{4}}", "2", use_math_verify=True).verdict == CORRECT


def test_expected_answer_of_bare_answers_and_solutions():
    assert expected_answer("1,200") == "1200"
    assert expected_answer("\\frac{1}{\\sqrt{2}}") == "\\frac{1}{\\sqrt{2}}"
    assert expected_answer(GSM8K_SOLUTION) == "72"
    assert expected_answer("We get 3 then 5.\nThe answer is 5.") == "5"


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=st.characters(blacklist_categories=("Nd", "No", "Nl")), max_size=200))
def test_a_response_without_an_answer_is_never_decided(text):
    """No digits, no answer: the rule tier must say undecidable, never guess correct or incorrect."""
    judgement = judge_response(text, "12", use_math_verify=False)
    # At most a LaTeX expression without digits ('\\boxed{x}'), which only math-verify could compare: it is off.
    assert judgement.predicted is None or normalize_number(judgement.predicted) is None
    assert judgement.verdict == UNDECIDABLE


def test_long_responses_are_clipped_before_parsing():
    # Only the first and the last max_chars characters are read: an answer in the middle is not seen.
    response = "x" * 50_000 + "\nThe answer is 5.\n" + "x" * 50_000
    assert judge_response(response, "5", max_chars=100).verdict == UNDECIDABLE
    assert judge_response(response, "5", max_chars=120_000).verdict == CORRECT
    assert judge_response("The answer is 5.\n" + "x" * 50_000, "5", max_chars=100).verdict == CORRECT


# ---------------------------------------------------------------- the grading prompt and its parser


def test_grading_messages_hold_problem_reference_and_student():
    messages = grading_messages("  How many muffins?  ", GSM8K_SOLUTION, "The answer is 70.")
    assert [m["role"] for m in messages] == ["system", "user"]
    user = messages[1]["content"]
    assert "How many muffins?" in user and GSM8K_SOLUTION in user and "The answer is 70." in user
    assert user.index("How many muffins?") < user.index(GSM8K_SOLUTION) < user.index("The answer is 70.")
    assert "Final Verdict" in user and "nothing after" in user


@pytest.mark.parametrize(
    ("reply", "verdict"),
    [
        ("Error Analysis: the setter says 72, the student 72. They match.\nFinal Verdict: Correct", CORRECT),
        ("Error Analysis: 72 vs 70, no match.\nFinal Verdict: Incorrect", INCORRECT),
        ("Final Verdict: correct.", CORRECT),
        ("**Final Verdict:** **Incorrect**", INCORRECT),
        ("Final verdict: INCORRECT\n\n", INCORRECT),
        ("- Final Verdict: Correct", CORRECT),
        # ambiguous, contradictory or malformed: undecidable
        ("", UNDECIDABLE),
        ("The student is correct.", UNDECIDABLE),
        ("Final Verdict: Correct/Incorrect", UNDECIDABLE),
        ("Final Verdict: Partially correct", UNDECIDABLE),
        ("Final Verdict: Correct\nFinal Verdict: Incorrect", UNDECIDABLE),
        ("Final Verdict: Correct\nFinal Verdict: Correct", UNDECIDABLE),
        ("Final Verdict: Correct\nActually the student made an error.", UNDECIDABLE),
        ("Final Verdict: Not correct", UNDECIDABLE),
        ("Final Verdict: Incorrect, but close", UNDECIDABLE),
        ("Error Analysis: the answers match and the final verdict is", UNDECIDABLE),
        ("Final Verdict:", UNDECIDABLE),
    ],
)
def test_parse_grading_reply(reply, verdict):
    assert parse_grading_reply(reply) == verdict


# ---------------------------------------------------------------- routing and merging

DECIDED = RuleJudgement(CORRECT, "3", "3", "same number")
WRONG = RuleJudgement(INCORRECT, "4", "3", "different numbers")
UNKNOWN = RuleJudgement(UNDECIDABLE, None, "3", "no final answer found in the response")


def test_undecidable_rows_always_go_to_the_llm():
    assert all(needs_llm(UNKNOWN, f"p{i}:0", 0.0) for i in range(50))


def test_audit_share_is_deterministic_and_near_its_share():
    keys = [f"p{i}:{j}" for i in range(2_000) for j in range(4)]
    routed = [k for k in keys if needs_llm(DECIDED, k, 0.1)]
    assert routed == [k for k in keys if needs_llm(DECIDED, k, 0.1)]  # re-runs route the same rows
    assert 0.08 < len(routed) / len(keys) < 0.12
    assert not any(needs_llm(DECIDED, k, 0.0) for k in keys)
    assert all(needs_llm(DECIDED, k, 1.0) for k in keys)
    # a larger share audits a superset of the rows a smaller one does
    assert set(routed) <= {k for k in keys if needs_llm(DECIDED, k, 0.2)}
    assert 0 <= audit_fraction("p1:0") < 1


@pytest.mark.parametrize(
    ("rule", "llm", "final", "tier", "disagrees"),
    [
        (UNKNOWN, CORRECT, CORRECT, "llm", False),
        (UNKNOWN, INCORRECT, INCORRECT, "llm", False),
        (UNKNOWN, UNDECIDABLE, UNDECIDABLE, "llm", False),
        (DECIDED, CORRECT, CORRECT, "rule", False),
        (DECIDED, INCORRECT, CORRECT, "rule", True),  # the rule verdict stands; the disagreement is counted
        (WRONG, CORRECT, INCORRECT, "rule", True),
        (WRONG, UNDECIDABLE, INCORRECT, "rule", False),
    ],
)
def test_merge_llm_verdict(rule, llm, final, tier, disagrees):
    assert merge_llm_verdict(rule, llm) == (final, tier)
    assert audit_disagrees(rule, llm) is disagrees


def test_merge_rejects_unknown_verdicts():
    with pytest.raises(ValueError, match="llm_verdict"):
        merge_llm_verdict(UNKNOWN, "maybe")


# ---------------------------------------------------------------- Verdict rows

SAMPLE = Sample(
    problem_id="gsm8k-7",
    sample_index=2,
    question="How many muffins did Mia pack?",
    response="48 + 24 = 72. The answer is 72.",
    num_tokens=17,
    finish_reason="stop",
    adapter="/runs/r1/adapters/v2",
    run_id="r1",
    iteration=2,
    policy_version=2,
    source="gsm8k:train.jsonl",
    seed=5,
)


def test_verdict_row_keeps_lineage():
    row = judge_verdict_row(SAMPLE, "72", GSM8K_SOLUTION)
    assert isinstance(row, Verdict)
    assert (row.verdict, row.predicted, row.expected, row.judge_tier) == (CORRECT, "72", "72", "rule")
    for name in ("problem_id", "sample_index", "question", "response", "num_tokens", "finish_reason", "adapter",
                 "run_id", "iteration", "policy_version", "source", "seed"):  # fmt: skip
        assert getattr(row, name) == getattr(SAMPLE, name), name
    assert row.reference_solution == GSM8K_SOLUTION


def test_verdict_row_from_a_dict_and_from_the_solution_alone():
    record = dataclasses.asdict(SAMPLE) | {"extra_column": 1}
    row = judge_verdict_row(record, None, GSM8K_SOLUTION)
    assert row.verdict == CORRECT and row.expected == "72"
    with pytest.raises(ValueError, match="response"):
        judge_verdict_row({"problem_id": "p", "sample_index": 0, "question": "q"}, "1", None)


def test_verdict_row_without_reference_or_answer_is_undecidable():
    row = judge_verdict_row(SAMPLE, None, None)
    assert (row.verdict, row.judge_tier, row.judge_reason) == (UNDECIDABLE, "none", "no reference")
    unanswered = dataclasses.replace(SAMPLE, response="I am not sure.")
    row = judge_verdict_row(unanswered, "72", None)
    assert (row.verdict, row.judge_tier) == (UNDECIDABLE, "none")


def test_verdict_row_with_scripted_teacher_replies():
    """The LLM tier end to end without an LLM: route, prompt, parse a scripted reply, merge."""
    unanswered = dataclasses.replace(SAMPLE, response="Mia packed seventy-two muffins.")
    rule = judge_response(unanswered.response, "72")
    assert needs_llm(rule, "gsm8k-7:2", 0.0)
    grading_messages(unanswered.question, GSM8K_SOLUTION, unanswered.response)
    reply = "Error Analysis: seventy-two is 72, the setter's answer.\nFinal Verdict: Correct"
    row = judge_verdict_row(unanswered, "72", GSM8K_SOLUTION, llm_verdict=parse_grading_reply(reply))
    assert (row.verdict, row.judge_tier) == (CORRECT, "llm")

    wrong_audit = "Error Analysis: they differ.\nFinal Verdict: Incorrect"
    row = judge_verdict_row(SAMPLE, "72", GSM8K_SOLUTION, llm_verdict=parse_grading_reply(wrong_audit))
    assert (row.verdict, row.judge_tier) == (CORRECT, "rule")
    assert AUDIT_DISAGREEMENT in row.judge_reason

    garbled = judge_verdict_row(unanswered, "72", GSM8K_SOLUTION, llm_verdict=parse_grading_reply("Maybe?"))
    assert (garbled.verdict, garbled.judge_tier) == (UNDECIDABLE, "llm")


def test_judge_metrics_count_verdicts_tiers_and_disagreements():
    rows = [
        judge_verdict_row(SAMPLE, "72", None),
        judge_verdict_row(SAMPLE, "71", None),
        judge_verdict_row(dataclasses.replace(SAMPLE, response="?"), "72", None),
        judge_verdict_row(SAMPLE, "72", None, llm_verdict=INCORRECT),
    ]
    metrics = judge_metrics(rows)
    assert metrics["judge/rows"] == 4
    assert (metrics["judge/correct"], metrics["judge/incorrect"], metrics["judge/undecidable"]) == (2, 1, 1)
    assert (metrics["judge/tier_rule"], metrics["judge/tier_none"], metrics["judge/tier_llm"]) == (3, 1, 0)
    assert metrics["judge/audit_disagreements"] == 1


def test_routing_accepts_rule_tier_verdict_rows():
    """The Ray judge stage routes Verdict rows (not RuleJudgements) through the same functions."""
    undecided = judge_verdict_row(dataclasses.replace(SAMPLE, response="?"), "72", None)
    decided = judge_verdict_row(SAMPLE, "72", None)
    assert needs_llm(undecided, "gsm8k-7:2", 0.0) and not needs_llm(decided, "gsm8k-7:2", 0.0)
    assert merge_llm_verdict(undecided, INCORRECT) == (INCORRECT, "llm")
    assert merge_llm_verdict(decided, INCORRECT) == (CORRECT, "rule") and audit_disagrees(decided, INCORRECT)


# ---------------------------------------------------------------- issue 22: no silent wrong verdicts


@pytest.mark.parametrize(
    ("response", "reference", "verdict"),
    [
        ("2.5 x 1000 = 2500.\nThe answer is 2.5e3.", "2500", CORRECT),
        ("The answer is 2.5e3.", "2.5", INCORRECT),
        ("The answer is 7.\nAnother problem: Sam has 5 marbles. The answer is 5.", "7", CORRECT),
        ("The answer is 7.\nAnother problem: Sam has 5 marbles. The answer is 5.", "5", INCORRECT),
        ("The answer is twelve.", "12", CORRECT),
        ("The answer is one and a half.", "1.5", CORRECT),
        ("The answer is two fifths.", "2/5", CORRECT),
        ("The answer is 1e400.", "1", UNDECIDABLE),
        ("The answer is 12 or 13.", "12", UNDECIDABLE),
        ("The answer is three quarters.", "0.75", UNDECIDABLE),
        ("The answer is 12.", "1e400", UNDECIDABLE),
        ("The answer is 5.", "So 2 + 3 = 5.\n#### 5\n#### 7", UNDECIDABLE),
        ("The answer is 5.", "So 2 + 3 = 5.\n#### 5\n#### 5", CORRECT),
        ("The answer is 12\u202f000.", "12000", CORRECT),
    ],
)
def test_misread_classes_are_read_exactly_or_undecidable(response, reference, verdict):
    assert judge_response(response, reference, use_math_verify=False).verdict == verdict


def test_reasons_name_what_was_not_read():
    j = judge_response("The answer is 1e400.", "1")
    assert j.predicted is None and "10^±50" in j.reason and "response" in j.reason
    j = judge_response("The answer is 12 or 13.", "12")
    assert "not one number" in j.reason
    j = judge_response("The answer is 5.", "#### 5\n#### 7")
    assert j.expected is None and "two different final answers (5 first, then 7)" in j.reason
    j = judge_response("The answer is 7.\nAnother problem: Sam has 5 marbles. The answer is 5.", "7")
    assert j.reason == "same number; a later final-answer line says 5 (the first one counts)"
    assert expected_answer("#### 5\n#### 7") is None and expected_answer("1e400") is None
