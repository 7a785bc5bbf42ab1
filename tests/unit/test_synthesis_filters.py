"""Which synthesized problems are kept: self-consistency, the symbolic check, the length limit, near-duplicates,
evaluation overlap; and the yield counts that add up across shards."""

from __future__ import annotations

import pytest

from orca_ray.core.synthesis_filters import (
    STAGES,
    YieldCounts,
    consensus,
    drop_duplicates_and_overlap,
    verify_with_reference,
    with_final_line,
    within_length,
    yield_table,
)


def solution(answer: str) -> str:
    return f"Step one, step two.\nThe answer is {answer}."


def test_majority_agreement_keeps_the_agreed_answer_and_its_first_solution():
    result = consensus([solution("5"), solution("4"), solution("4")])
    assert (result.answer, result.votes, result.answered, result.requested) == ("4", 2, 3, 3)
    assert result.solution_index == 1
    assert not result.verified


def test_no_majority_means_no_answer():
    assert consensus([solution("1"), solution("2"), solution("3")]).answer is None
    assert consensus([solution("1"), solution("1"), solution("2"), solution("2")]).answer is None  # 2 of 4: a tie


def test_unreadable_solutions_count_against_agreement():
    result = consensus([solution("7"), "I am not sure.", "no final line here"])
    assert (result.answer, result.answered) == (None, 1)
    assert consensus(["nothing", "at all"]).answered == 0


def test_equivalent_answers_agree():
    result = consensus([solution("1 1/2"), solution("1.5"), solution("3/2")], agreement="all")
    assert result.answer == "1.5"
    assert consensus([solution("$1,000"), solution("1000")], agreement="all").answer == "1000"


def test_all_agreement_needs_every_solution():
    solutions = [solution("4"), solution("4"), solution("5")]
    assert consensus(solutions, agreement="majority").answer == "4"
    assert consensus(solutions, agreement="all").answer is None


def test_a_single_solution_passes_as_documented():
    assert consensus([solution("9")]).answer == "9"


def test_symbolic_reference_decides_whatever_the_teacher_says():
    result = verify_with_reference([solution("7"), solution("8"), solution("8")], "8")
    assert (result.answer, result.votes, result.solution_index, result.verified) == ("8", 2, 1, True)
    wrong = verify_with_reference([solution("7"), solution("7")], "8")
    assert (wrong.answer, wrong.solution_index, wrong.verified) == ("8", None, True)


def test_solutions_end_with_the_final_answer_line():
    assert with_final_line("2 + 2 = 4.", "4") == "2 + 2 = 4.\nThe answer is 4."
    assert with_final_line(solution("4"), "4") == solution("4")
    assert with_final_line("", "4") == "The answer is 4."


def test_length_limit_is_inclusive():
    assert within_length("x" * 1800, 1800)
    assert not within_length("x" * 1801, 1800)


SEEDS = ["Tom has 16 apples and eats 3 of them. How many apples does he have left?"]
NEW = [
    "A farmer has 12 cows and buys 7 more cows at the market. How many cows does the farmer have now?",
    "Tom has 16 apples and eats 3 of them. How many apples does he have left?",  # a copy of the seed
    "A farmer has 12 cows and buys 7 more cows at the market. How many cows does the farmer have now?",  # repeat
    "Sara shares 24 stickers equally among 4 friends. How many stickers does each friend get?",
    "A train travels 60 miles per hour for 3 hours and then 40 miles. How many miles does it travel?",
]


def test_copies_of_seeds_and_repeats_are_dropped_first_one_kept():
    result = drop_duplicates_and_overlap(NEW, SEEDS, [], near_duplicate_threshold=0.9, ngram=8, overlap_threshold=0.5)
    assert result.deduplicated == [0, 3, 4]
    assert result.kept == [0, 3, 4]


def test_problems_overlapping_an_evaluation_set_are_dropped():
    eval_questions = ["Sara shares 24 stickers equally among 4 friends. How many stickers does each friend get?"]
    result = drop_duplicates_and_overlap(
        NEW, SEEDS, eval_questions, near_duplicate_threshold=0.9, ngram=8, overlap_threshold=0.5
    )
    assert result.deduplicated == [0, 3, 4]
    assert result.kept == [0, 4]


def test_yield_counts_add_up_across_shards_and_round_trip():
    first, second = YieldCounts(), YieldCounts()
    first.add("seeds", "ask_me_anything", 2)
    first.add("generated", "ask_me_anything", 5)
    second.add("generated", "ask_me_anything", 1)
    second.add("generated", "suggester_editor", 2)
    merged = first.merge(second)
    assert merged.get("generated", "ask_me_anything") == 6
    assert merged.total("generated") == 8
    assert merged.agents() == ["ask_me_anything", "suggester_editor"]
    assert first.get("generated", "ask_me_anything") == 5  # merge makes a new object
    assert YieldCounts.from_dict(merged.to_dict()).to_dict() == merged.to_dict()
    with pytest.raises(ValueError, match="unknown stage"):
        merged.add("generatd", "ask_me_anything")


def test_yield_table_has_every_stage_and_totals():
    counts = YieldCounts.from_dict({"seeds": {"a": 3, "b": 3}, "generated": {"a": 7, "b": 2}, "kept": {"a": 1}})
    lines = yield_table(counts, seeds_total=3).splitlines()
    assert lines[0].split() == ["stage", "a", "b", "total"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:]}
    assert list(rows) == list(STAGES)
    assert rows["seeds"] == ["3", "3", "3"]
    assert rows["generated"] == ["7", "2", "9"]
    assert rows["kept"] == ["1", "0", "1"]
