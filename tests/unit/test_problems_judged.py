"""Acceptance (issue 3): 10,000 generated problems, every one's own solution judged `correct` by the rule judge;
another problem's solution judged `incorrect` unless the two answers happen to be equal."""

from __future__ import annotations

import random
from collections import Counter
from fractions import Fraction

from orca_ray.core.judge import judge_response
from orca_ray.core.problems import generate_problems, make_harder
from orca_ray.schemas import CORRECT, INCORRECT


def test_every_solution_is_judged_correct_against_its_own_answer():
    problems = generate_problems(10_000, seed=0)
    verdicts = Counter()
    wrong = []
    for problem in problems:
        judgement = judge_response(problem.solution, problem.answer, problem.question)
        verdicts[judgement.verdict] += 1
        if judgement.verdict != CORRECT and len(wrong) < 3:
            wrong.append((problem.id, problem.answer, judgement))
    assert verdicts[CORRECT] == 10_000, (verdicts, wrong)


def test_a_full_reference_solution_works_as_the_reference_too():
    for problem in generate_problems(500, seed=1) + [make_harder(p, 1) for p in generate_problems(200, seed=2)]:
        assert judge_response(problem.solution, problem.solution, problem.question).verdict == CORRECT


def test_another_problems_solution_is_judged_incorrect():
    problems = generate_problems(3000, seed=4)
    order = list(range(len(problems)))
    random.Random(0).shuffle(order)
    verdicts = Counter()
    for problem, other in zip(problems, (problems[i] for i in order), strict=True):
        if Fraction(problem.answer) == Fraction(other.answer):
            continue  # the same number: correct by right
        verdicts[judge_response(other.solution, problem.answer, problem.question).verdict] += 1
    assert verdicts[INCORRECT] == sum(verdicts.values()), verdicts
