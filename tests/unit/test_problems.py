"""The symbolic teacher: determinism, every family at every step count, exact arithmetic checked line by line,
variety, held-out splits, and 'make it harder'."""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import doctest
import importlib
import pkgutil
import re
from collections import Counter
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import orca_ray.core.problems as problems_pkg
from orca_ray.core.problems import FAMILIES, FAMILY_INFO, generate_problems, make_harder, split_families
from orca_ray.core.problems.wording import NAMES
from orca_ray.core.prompts import final_answer_line
from orca_ray.errors import ConfigError
from orca_ray.schemas import Problem

PACKAGE_DIR = Path(problems_pkg.__file__).parent

# ---------------------------------------------------------------- an independent check of every solution line

_CALC_CHARS = set("0123456789./+-x() ")
_RESULT_RE = re.compile(r"=\s*(-?\d+(?:\.\d+)?(?:/\d+)?)")
_CANONICAL_RE = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d*[1-9])?|[1-9]\d*/[1-9]\d*")


def _evaluate(node: ast.AST) -> Fraction:
    """Exact value of a parsed calculation: numbers, + - * /, parentheses, unary minus; nothing else."""
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return Fraction(str(node.value))  # the literal's text, e.g. '1.08', read exactly
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_evaluate(node.operand)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub | ast.Mult | ast.Div):
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Add):
            return left + right
        if isinstance(node.op, ast.Sub):
            return left - right
        return left * right if isinstance(node.op, ast.Mult) else left / right
    raise AssertionError(f"unexpected syntax in a calculation: {ast.dump(node)}")


def checked_result(line: str) -> Fraction:
    """The result of the one calculation 'a op b ... = c' in a solution line, after checking that it is right."""
    assert line.count("=") == 1, f"expected exactly one calculation: {line!r}"
    left, right = line.split("=")
    start = len(left)
    while start > 0 and left[start - 1] in _CALC_CHARS:
        start -= 1
    expression = left[start:].strip()
    while expression and not (expression[0].isdigit() or expression[0] == "(" or expression[:2].lstrip("-").isdigit()):
        expression = expression[1:].lstrip()  # e.g. the 'x' of a word ending in x just before the numbers
    assert expression, f"no calculation before '=': {line!r}"
    value = _evaluate(ast.parse(expression.replace(" x ", " * "), mode="eval"))
    shown = _RESULT_RE.search("=" + right)
    assert shown, f"no result after '=': {line!r}"
    assert value == Fraction(shown.group(1)), f"{expression} is {value}, not {shown.group(1)}: {line!r}"
    return value


def assert_valid(problem: Problem) -> None:
    """Shape, exact arithmetic in every step, the final line, and a clean canonical answer."""
    lines = problem.solution.splitlines()
    assert lines[-1] == final_answer_line(problem.answer)
    assert sum(line.startswith("The answer is") for line in lines) == 1
    assert len(lines) - 1 == problem.steps, problem.solution
    results = [checked_result(line) for line in lines[:-1]]
    assert results[-1] == Fraction(problem.answer), f"the last step gives {results[-1]}, the answer is {problem.answer}"
    assert _CANONICAL_RE.fullmatch(problem.answer), f"not canonical: {problem.answer!r}"
    value = Fraction(problem.answer)
    clean = value.denominator == 1 or (value * 100).denominator == 1 or value.denominator <= 12
    assert clean, f"answer {problem.answer} is not a whole number, a short decimal or a simple fraction"
    if "/" in problem.answer:
        assert problem.family == "fractions" and "fraction" in problem.question, problem.question
    assert problem.question.strip().endswith("?") and "{" not in problem.question and "{" not in problem.solution


# ---------------------------------------------------------------- generation


def test_same_seed_same_problems_and_prefix_stable():
    first = generate_problems(300, seed=42)
    assert first == generate_problems(300, seed=42)
    assert generate_problems(120, seed=42) == first[:120]  # problem i does not depend on n
    assert [p.id for p in first[:3]] == ["sym-42-0", "sym-42-1", "sym-42-2"]
    assert len({p.id for p in first}) == 300
    assert all(p.seed == 42 and p.source == "symbolic" for p in first)
    assert generate_problems(5, seed=42, source="heldout")[0].source == "heldout"


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_at_every_step_count(family):
    info = FAMILY_INFO[family]
    for steps in range(info.min_steps, info.max_steps + 1):
        batch = generate_problems(25, seed=steps, families=[family], min_steps=steps, max_steps=steps)
        for problem in batch:
            assert (problem.family, problem.steps) == (family, steps)
            assert_valid(problem)


def test_ten_thousand_problems_are_exact_distinct_and_cover_every_family_and_step(capsys):
    batch = generate_problems(10_000, seed=0)
    for problem in batch:
        assert_valid(problem)
    distinct = len({p.question for p in batch})
    by_family = Counter(p.family for p in batch)
    by_steps = Counter(p.steps for p in batch)
    with capsys.disabled():  # the acceptance asks for these counts to be printed
        print(f"\n10,000 problems: {distinct} distinct questions")
        print("per family:", dict(sorted(by_family.items())))
        print("per step count:", dict(sorted(by_steps.items())))
    assert distinct >= 9_900
    assert set(by_family) == set(FAMILIES) and min(by_family.values()) >= 400
    assert set(by_steps) == set(range(1, 7)) and min(by_steps.values()) >= 1_200


def test_raw_variety_without_retries():
    """The retry on a repeated question is a safety net: first attempts alone are already distinct."""
    from orca_ray.core.problems.draft import NoBuild
    from orca_ray.core.problems.generator import build_draft

    questions = []
    for index in range(2000):
        family, steps = FAMILIES[index % len(FAMILIES)], 1 + index % 6
        with contextlib.suppress(NoBuild):
            questions.append(build_draft(9, index, family, steps, attempt=0).question)
    assert len(questions) >= 1900
    assert len(set(questions)) >= 0.99 * len(questions)


def test_wording_varies_within_each_family():
    batch = generate_problems(3000, seed=5)
    name_re = re.compile(r"\b(" + "|".join(name for name, _ in NAMES) + r")\b")
    for family in FAMILIES:
        questions = [p.question for p in batch if p.family == family]
        skeletons = {name_re.sub("N", re.sub(r"\$?-?\d+(?:\.\d+)?(?:/\d+)?", "#", q)) for q in questions}
        assert len(skeletons) >= 30, f"{family}: only {len(skeletons)} different wordings"
    assert len({m for p in batch for m in name_re.findall(p.question)}) >= 40


def test_held_out_by_seed_is_disjoint():
    train = {p.question for p in generate_problems(3000, seed=1)}
    heldout = {p.question for p in generate_problems(3000, seed=10_001)}
    assert len(train & heldout) <= 0.01 * len(heldout)


def test_held_out_by_family():
    train_families, held = split_families(["ages", "travel"])
    assert held == ["ages", "travel"] and set(train_families) | set(held) == set(FAMILIES)
    train = generate_problems(500, seed=3, families=train_families)
    assert {p.family for p in train} == set(train_families)
    assert {p.family for p in generate_problems(100, seed=3, families=held)} == {"ages", "travel"}


@pytest.mark.parametrize(
    "call",
    [
        lambda: generate_problems(5, seed=0, families=["shopping", "astrology"]),
        lambda: split_families(["astrology"]),
    ],
)
def test_unknown_family_names_it_and_lists_the_valid_ones(call):
    with pytest.raises(ValueError) as caught:
        call()
    assert isinstance(caught.value, ConfigError)
    message = str(caught.value)
    assert "'astrology'" in message and all(family in message for family in FAMILIES)


@pytest.mark.parametrize("low, high", [(0, 3), (4, 2), (1, 7)])
def test_bad_step_range_is_a_config_error(low, high):
    with pytest.raises(ConfigError, match="min_steps"):
        generate_problems(5, seed=0, min_steps=low, max_steps=high)


def test_step_range_is_respected():
    batch = generate_problems(300, seed=8, min_steps=2, max_steps=3)
    assert {p.steps for p in batch} == {2, 3}


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(-(10**9), 10**9), family=st.sampled_from(FAMILIES), steps=st.integers(1, 6))
def test_any_seed_gives_valid_problems(seed, family, steps):
    (problem,) = generate_problems(1, seed=seed, families=[family], min_steps=steps, max_steps=steps)
    assert_valid(problem)
    assert make_harder(problem, seed=seed % 7).steps == steps + 1


# ---------------------------------------------------------------- make it harder


def test_make_harder_adds_a_step_and_changes_the_answer_deterministically():
    batch = generate_problems(600, seed=21)
    changed_by_seed = 0
    for problem in batch:
        harder = make_harder(problem, seed=1)
        assert harder == make_harder(problem, seed=1)
        assert harder.id == problem.id + "-h1" and harder.steps == problem.steps + 1
        assert harder.answer != problem.answer and harder.family == problem.family
        assert harder.solution.splitlines()[: problem.steps] == problem.solution.splitlines()[:-1]
        assert_valid(harder)
        changed_by_seed += make_harder(problem, seed=2).question != harder.question
    assert changed_by_seed >= 0.5 * len(batch)  # the seed picks the follow-up


@pytest.mark.parametrize("family", FAMILIES)
def test_make_harder_chains_on_every_family(family):
    for problem in generate_problems(40, seed=33, families=[family]):
        for seed in (1, 2, 3):
            harder = make_harder(problem, seed=seed)
            assert harder.steps == problem.steps + 1
            assert_valid(harder)
            problem = harder
        assert problem.id.endswith("-h1-h2-h3")


def test_make_harder_keeps_lineage_and_accepts_prefixed_ids():
    problem = dataclasses.replace(generate_problems(1, seed=4)[0], run_id="r1", iteration=2)
    harder = make_harder(problem, seed=5)
    assert (harder.run_id, harder.iteration, harder.seed, harder.source) == ("r1", 2, 4, "symbolic")
    prefixed = dataclasses.replace(problem, id="s1-" + problem.id)  # as a loader that made ids unique writes it
    again = make_harder(prefixed, seed=5)
    assert again.id == "s1-sym-4-0-h5" and again.question == harder.question


def test_make_harder_after_a_parquet_round_trip(tmp_path):
    from orca_ray.schemas import read_rows, write_rows

    batch = generate_problems(60, seed=12)
    path = write_rows(tmp_path / "problems.parquet", batch, Problem)
    loaded = read_rows(path, Problem)
    assert loaded == batch
    assert [make_harder(p, seed=3) for p in loaded] == [make_harder(p, seed=3) for p in batch]


@pytest.mark.parametrize(
    "edit",
    [
        {"id": "gsm8k-12"},
        {"family": "poetry"},
        {"question": "What is 2 + 2?"},
    ],
)
def test_make_harder_refuses_problems_it_did_not_write(edit):
    problem = dataclasses.replace(generate_problems(1, seed=4)[0], **edit)
    with pytest.raises(ValueError, match="harder"):
        make_harder(problem, seed=1)


# ---------------------------------------------------------------- the code itself


def test_no_floats_in_the_arithmetic():
    """Exact arithmetic: no float literal and no float() anywhere in the generator's code."""
    offenders = []
    for path in sorted(PACKAGE_DIR.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, float):
                offenders.append(f"{path.name}:{node.lineno} float literal {node.value}")
            if isinstance(node, ast.Name) and node.id == "float":
                offenders.append(f"{path.name}:{node.lineno} float")
    assert offenders == []


@pytest.mark.parametrize("module", sorted(m.name for m in pkgutil.iter_modules(problems_pkg.__path__)))
def test_docstring_examples(module):
    failures, _ = doctest.testmod(importlib.import_module(f"orca_ray.core.problems.{module}"))
    assert failures == 0


DEMO_FAMILIES = ["shopping", "ratios", "ages", "transfers", "temperature", "geometry", "schedules", "travel"]


def test_max_number_bounds_every_number_and_keeps_the_rest_of_the_plan():
    from orca_ray.core.problems.generator import largest_number

    bounded = generate_problems(200, seed=3, families=DEMO_FAMILIES, max_steps=2, max_number=100)
    assert max(largest_number(p) for p in bounded) <= 100
    free = generate_problems(200, seed=3, families=DEMO_FAMILIES, max_steps=2)
    assert max(largest_number(p) for p in free) > 100  # the bound is what made them small
    # the same family and step count for each index: only the numbers (the attempt) differ
    assert [(p.family, p.steps) for p in bounded] == [(p.family, p.steps) for p in free]
    assert bounded == generate_problems(200, seed=3, families=DEMO_FAMILIES, max_steps=2, max_number=100)


def test_max_number_a_family_cannot_meet_names_it():
    with pytest.raises(ConfigError, match="units .*max_number"):
        generate_problems(20, seed=1, families=["units"], min_steps=2, max_steps=2, max_number=10)
    with pytest.raises(ConfigError, match="at least 10"):
        generate_problems(1, seed=1, max_number=5)


def test_step_weights_shift_the_step_mix():
    uniform = generate_problems(600, seed=5, families=DEMO_FAMILIES, max_steps=2)
    weighted = generate_problems(600, seed=5, families=DEMO_FAMILIES, max_steps=2, step_weights=[1, 3])
    share = [sum(p.steps == 2 for p in ps) / len(ps) for ps in (uniform, weighted)]
    assert 0.42 < share[0] < 0.58 and 0.68 < share[1] < 0.82, share
    only_two = generate_problems(50, seed=5, families=DEMO_FAMILIES, max_steps=2, step_weights=[0, 1])
    assert {p.steps for p in only_two} == {2}
    with pytest.raises(ConfigError, match="step_weights"):
        generate_problems(5, seed=5, max_steps=2, step_weights=[1, 1, 1])


def test_data_source_checks_step_weights_against_the_step_range():
    from orca_ray.config import load_config

    cfg = load_config(
        None, ["data.train.0.max_steps=2", "data.train.0.step_weights=[2, 3]", "data.train.0.max_number=50"]
    )
    assert cfg.data.train[0].step_weights == [2, 3] and cfg.data.train[0].max_number == 50
    with pytest.raises(ConfigError, match="step_weights needs 2 weights"):
        load_config(None, ["data.train.0.max_steps=2", "data.train.0.step_weights=[1, 1, 1]"])
