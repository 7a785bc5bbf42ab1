"""Preference building follows Orca-Math case by case (teacher fallback, all correct, borrowing, undecidable), is
deterministic, caps DPO pairs evenly, and writes TRL's conversational rows with the student's exact prompt."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orca_ray.core.preferences import (
    COUNT_KEYS,
    add_counts,
    build_dpo_pairs,
    build_kto_examples,
    build_sft_examples,
    dpo_pairs_for_problem,
    kto_examples_for_problem,
    prompt_messages,
    trl_record,
)
from orca_ray.core.prompts import student_messages, student_prompt
from orca_ray.errors import DataError
from orca_ray.schemas import (
    CORRECT,
    INCORRECT,
    ORIGIN_BORROWED,
    ORIGIN_STUDENT,
    ORIGIN_TEACHER,
    UNDECIDABLE,
    Problem,
    Verdict,
)

TEACHER = "Two plus three is five.\nThe answer is 5."


def problem(pid: str = "p1", solution: str | None = TEACHER) -> Problem:
    return Problem(id=pid, question=f"Question {pid}?", answer="5", solution=solution, source="symbolic", seed=3)


def verdicts(pid: str, *labels: str, run_id: str = "r", iteration: int = 2, policy_version: int = 1) -> list[Verdict]:
    return [
        Verdict(
            pid,
            i,
            f"Question {pid}?",
            f"{pid} attempt {i}",
            label,
            run_id=run_id,
            iteration=iteration,
            policy_version=policy_version,
        )
        for i, label in enumerate(labels)
    ]


def test_all_wrong_falls_back_to_the_teacher_as_the_only_positive():
    rows, counts = kto_examples_for_problem(problem(), verdicts("p1", INCORRECT, INCORRECT))
    positives = [r for r in rows if r.label]
    assert [(r.completion, r.origin) for r in positives] == [(TEACHER, ORIGIN_TEACHER)]
    assert [r.completion for r in rows if not r.label] == ["p1 attempt 0", "p1 attempt 1"]
    assert counts["teacher_fallbacks"] == 1 and counts["positives"] == 1 and counts["negatives"] == 2
    assert all(r.prompt == student_prompt("Question p1?") for r in rows)


def test_mixed_attempts_keep_the_teacher_positive_unless_told_not_to():
    vs = verdicts("p1", CORRECT, INCORRECT, CORRECT)
    rows, counts = kto_examples_for_problem(problem(), vs)
    assert [(r.origin, r.label) for r in rows] == [
        (ORIGIN_TEACHER, True),
        (ORIGIN_STUDENT, True),
        (ORIGIN_STUDENT, True),
        (ORIGIN_STUDENT, False),
    ]
    assert counts["teacher_fallbacks"] == 0 and counts["teacher_positives"] == 1
    rows, counts = kto_examples_for_problem(problem(), vs, include_teacher_positive=False)
    assert ORIGIN_TEACHER not in {r.origin for r in rows} and counts["positives"] == 2


def test_undecidable_verdicts_are_left_out_and_counted():
    rows, counts = kto_examples_for_problem(problem(), verdicts("p1", UNDECIDABLE, INCORRECT, UNDECIDABLE))
    assert "p1 attempt 0" not in {r.completion for r in rows}
    assert counts["undecidable"] == 2 and counts["samples"] == 3
    rows, counts = kto_examples_for_problem(problem(), verdicts("p1", UNDECIDABLE))
    assert rows == [] and counts["no_decided"] == 1


def test_all_wrong_without_a_solution_has_no_positive():
    rows, counts = kto_examples_for_problem(problem(solution=None), verdicts("p1", INCORRECT))
    assert rows == [] and counts["no_positive"] == 1


def test_all_correct_borrows_only_when_asked_and_deterministically():
    problems = [problem("p1"), problem("p2"), problem("p3")]
    vs = verdicts("p1", CORRECT, CORRECT) + verdicts("p2", INCORRECT, INCORRECT) + verdicts("p3", INCORRECT)
    rows, counts = build_kto_examples(problems, vs)
    assert counts["all_correct"] == 1 and counts["borrowed"] == 0
    assert not [r for r in rows if r.problem_id == "p1" and not r.label]

    rows, counts = build_kto_examples(problems, vs, borrow_negatives=True, seed=7)
    borrowed = [r for r in rows if r.origin == ORIGIN_BORROWED]
    assert counts["borrowed"] == 1 and len(borrowed) == 1
    assert borrowed[0].problem_id == "p1" and not borrowed[0].label
    assert borrowed[0].completion in {v.response for v in vs if v.problem_id != "p1"}
    assert borrowed[0].prompt == student_prompt("Question p1?")  # p1's prompt, another problem's wrong answer
    again, _ = build_kto_examples(list(reversed(problems)), list(reversed(vs)), borrow_negatives=True, seed=7)
    assert [r.completion for r in again if r.origin == ORIGIN_BORROWED] == [borrowed[0].completion]


def test_a_borrowed_negative_never_comes_from_the_same_problem():
    rows, counts = build_kto_examples([problem("p1")], verdicts("p1", CORRECT), borrow_negatives=True)
    assert counts["borrowed"] == 0 and counts["no_negative"] == 1 and all(r.label for r in rows)


def test_identical_completions_are_merged():
    vs = [Verdict("p1", i, "Question p1?", "same", INCORRECT) for i in range(3)]
    vs.append(Verdict("p1", 3, "Question p1?", TEACHER, CORRECT))  # the student copied the teacher word for word
    rows, counts = kto_examples_for_problem(problem(), vs)
    assert sorted((r.completion, r.label) for r in rows) == sorted([("same", False), (TEACHER, True)])
    assert counts["duplicates"] == 3


def test_rows_carry_the_lineage_of_their_iteration():
    rows, _ = kto_examples_for_problem(
        problem(), verdicts("p1", INCORRECT, run_id="run-9", iteration=4, policy_version=3)
    )
    assert {(r.run_id, r.iteration, r.policy_version, r.source, r.seed) for r in rows} == {
        ("run-9", 4, 3, "symbolic", 3)
    }


def test_dpo_pairs_are_positives_times_negatives_up_to_the_cap():
    vs = verdicts("p1", CORRECT, INCORRECT, INCORRECT, INCORRECT)
    pairs, counts = build_dpo_pairs([problem()], vs, max_pairs_per_problem=100)
    assert len(pairs) == 2 * 3 and counts["pairs"] == 6  # teacher + 1 right, times 3 wrong
    assert {(p.chosen_origin, p.rejected_origin) for p in pairs} == {
        (ORIGIN_TEACHER, ORIGIN_STUDENT),
        (ORIGIN_STUDENT, ORIGIN_STUDENT),
    }
    capped, counts = build_dpo_pairs([problem()], vs, max_pairs_per_problem=3, seed=1)
    assert len(capped) == 3 and counts["pairs"] == 3
    # Even use: 3 pairs over 3 negatives use each negative once.
    assert len({p.rejected for p in capped}) == 3
    assert capped == build_dpo_pairs([problem()], vs, max_pairs_per_problem=3, seed=1)[0]


def test_dpo_all_wrong_pairs_the_teacher_with_each_wrong_attempt():
    pairs, counts = dpo_pairs_for_problem(problem(), verdicts("p1", INCORRECT, INCORRECT), max_pairs_per_problem=4)
    assert [(p.chosen, p.rejected) for p in pairs] == [(TEACHER, "p1 attempt 0"), (TEACHER, "p1 attempt 1")]
    assert counts["teacher_fallbacks"] == 1


def test_dpo_all_correct_without_borrowing_gives_no_pair():
    pairs, counts = build_dpo_pairs([problem()], verdicts("p1", CORRECT), max_pairs_per_problem=4)
    assert pairs == [] and counts["all_correct"] == 1 and counts["no_negative"] == 1
    with pytest.raises(ValueError, match="max_pairs_per_problem"):
        build_dpo_pairs([problem()], verdicts("p1", CORRECT), max_pairs_per_problem=0)


def test_verdicts_of_unknown_problems_and_unknown_labels_are_refused():
    with pytest.raises(DataError, match="unknown problems"):
        build_kto_examples([problem("p1")], verdicts("p2", CORRECT))
    with pytest.raises(DataError, match="unknown verdict value 'maybe'"):
        kto_examples_for_problem(problem(), verdicts("p1", "maybe"))


def test_counts_have_stable_keys_and_add_up():
    _, a = build_kto_examples([problem("p1")], verdicts("p1", INCORRECT))
    _, b = build_dpo_pairs([problem("p2")], verdicts("p2", CORRECT, INCORRECT), max_pairs_per_problem=2)
    assert tuple(a) == COUNT_KEYS and tuple(b) == COUNT_KEYS
    total = add_counts(a, b)
    assert total["problems"] == 2 and total["samples"] == 3 and total["examples"] == 2 and total["pairs"] == 2


def test_sft_examples_skip_and_count_problems_without_a_solution():
    counts: dict[str, int] = {}
    rows = build_sft_examples([problem("a"), problem("b", solution=None), problem("c", solution="  ")], counts)
    assert [(r.problem_id, r.prompt, r.completion) for r in rows] == [("a", student_prompt("Question a?"), TEACHER)]
    assert counts == {"sft_examples": 1, "sft_skipped": 2}


def test_trl_records_render_the_prompt_the_samplers_send():
    question = "Question p1?"
    record = trl_record("kto", {"prompt": student_prompt(question), "completion": "x", "label": 1}, "Be brief.")
    assert record["prompt"] == student_messages(question, "Be brief.")
    assert record["completion"] == [{"role": "assistant", "content": "x"}] and record["label"] is True
    dpo = trl_record("dpo", {"prompt": "q", "chosen": "a", "rejected": "b"})
    assert dpo["prompt"] == prompt_messages("q") == [{"role": "user", "content": "q"}]
    assert (dpo["chosen"][0]["content"], dpo["rejected"][0]["content"]) == ("a", "b")
    assert set(trl_record("sft", {"prompt": "q", "completion": "a"})) == {"prompt", "completion"}
    with pytest.raises(DataError, match=r"lacks column\(s\) \['label'\]"):
        trl_record("kto", {"prompt": "q", "completion": "a", "problem_id": "p9"})
    with pytest.raises(ValueError, match="unknown training method"):
        trl_record("ppo", {"prompt": "q"})


LABELS = st.sampled_from([CORRECT, INCORRECT, UNDECIDABLE])


@settings(max_examples=60, deadline=None)
@given(
    labels=st.lists(st.lists(LABELS, min_size=0, max_size=5), min_size=1, max_size=6),
    borrow=st.booleans(),
    cap=st.integers(1, 6),
    seed=st.integers(0, 3),
)
def test_invariants_over_random_verdicts(labels, borrow, cap, seed):
    problems = [problem(f"p{i}") for i in range(len(labels))]
    vs = [v for i, ls in enumerate(labels) for v in verdicts(f"p{i}", *ls)]
    kto, kc = build_kto_examples(problems, vs, borrow_negatives=borrow, seed=seed)
    dpo, dc = build_dpo_pairs(problems, vs, max_pairs_per_problem=cap, borrow_negatives=borrow, seed=seed)
    assert kc["examples"] == len(kto) == kc["positives"] + kc["negatives"]
    assert kc["undecidable"] == sum(ls.count(UNDECIDABLE) for ls in labels)
    assert dc["pairs"] == len(dpo)
    undecided = {v.response for v in vs if v.verdict == UNDECIDABLE}
    assert not undecided & {r.completion for r in kto}
    for pid in {p.id for p in problems}:
        mine = [p for p in dpo if p.problem_id == pid]
        assert len(mine) <= cap and len({(p.chosen, p.rejected) for p in mine}) == len(mine)
        assert all(p.chosen != p.rejected for p in mine)
    assert (kto, kc) == build_kto_examples(problems, vs, borrow_negatives=borrow, seed=seed)
    assert (dpo, dc) == build_dpo_pairs(problems, vs, max_pairs_per_problem=cap, borrow_negatives=borrow, seed=seed)


def test_unanswered_attempts_become_negatives_only_when_enabled():
    from orca_ray.core.preferences import build_kto_examples
    from orca_ray.schemas import Problem, Verdict

    problem = Problem(id="p1", question="2+3?", answer="5", solution="2+3=5.\nThe answer is 5.")
    verdicts = [
        Verdict("p1", 0, "2+3?", "Let me think step by step about", "undecidable", finish_reason="length"),
        Verdict("p1", 1, "2+3?", "It is five or so", "undecidable", finish_reason="stop"),  # stopped: not cut off
    ]
    rows, counts = build_kto_examples([problem], verdicts)
    assert rows == [] and counts["no_decided"] == 1
    rows, counts = build_kto_examples([problem], verdicts, unanswered_as_negative=True)
    assert [(r.completion, r.label, r.origin) for r in rows] == [
        ("2+3=5.\nThe answer is 5.", True, "teacher"),
        ("Let me think step by step about", False, "student"),
    ]
    assert counts["unanswered"] == 1 and counts["teacher_fallbacks"] == 1 and counts["undecidable"] == 2
