"""The agents' prompts and the parsing of their replies: what is asked for is what is read back, junk is not read
as a problem, and the module stays plain text (no AutoGen)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from orca_ray.agents import prompts
from orca_ray.agents.prompts import (
    ask_me_anything_task,
    looks_like_problem,
    parse_edited_problem,
    parse_numbered_problems,
    suggester_editor_task,
)

SEED = "Tom has 16 apples and eats 3 of them. How many apples does he have left?"


def test_prompts_module_imports_no_framework():
    tree = ast.parse(Path(prompts.__file__).read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert imported <= {"__future__", "re"}


def test_ask_me_anything_task_carries_the_seed_its_answer_and_the_count():
    task = ask_me_anything_task(f"  {SEED}\n", "13", 4)
    assert task.startswith(f"Problem: {SEED}\nAnswer: 13\n")
    assert "Write 4 new problems" in task and "'Problem 1:'" in task
    assert "Answer:" not in ask_me_anything_task(SEED, None, 2)


def test_roles_are_told_apart():
    assert "Do not write the new problem" in prompts.SUGGESTER_SYSTEM
    assert "'Problem:'" in prompts.EDITOR_SYSTEM
    assert "Do not solve" in prompts.ASK_ME_ANYTHING_SYSTEM
    assert suggester_editor_task(SEED).endswith(f"Problem: {SEED}")


@pytest.mark.parametrize(
    "reply",
    [
        "Problem 1: Tom had some apples, ate 3 and has 13 left. How many did he have?\n"
        "Problem 2: Tom had 16 apples and has 13 left. How many did he eat?",
        "Sure! Here they are.\n\n1. Tom had some apples, ate 3 and has 13 left. How many did he have?\n"
        "2) Tom had 16 apples and has 13 left. How many did he eat?\n",
        "**Problem 1:** Tom had some apples, ate 3 and has 13 left. How many did he have?\nAnswer: 16\n\n"
        "**Problem 2:** Tom had 16 apples and has 13 left. How many did he eat?\nSolution: 16 - 13 = 3",
        "Question 1: Tom had some apples, ate 3 and has 13 left. How many did he have?\n"
        "Question 2: Tom had 16 apples and has 13 left.\nHow many did he eat?",
    ],
)
def test_numbered_problems_in_the_formats_small_models_write(reply):
    assert parse_numbered_problems(reply) == [
        "Tom had some apples, ate 3 and has 13 left. How many did he have?",
        "Tom had 16 apples and has 13 left. How many did he eat?",
    ]


def test_an_unnumbered_label_starts_an_item_too():
    reply = (
        "Problem: Tom had some apples, ate 3 and has 13 left. How many did he have?\n\n"
        "Problem 2: Tom had 16 apples and has 13 left. How many did he eat?\n\n"
        "Problem 3: She earned 50 + 20 = 70 minutes.\n\n"  # an answer, not a problem
        "Problem 4: 4. Ann has 3 cats and 2 dogs. How many pets does she have?"  # numbered twice
    )
    assert parse_numbered_problems(reply) == [
        "Tom had some apples, ate 3 and has 13 left. How many did he have?",
        "Tom had 16 apples and has 13 left. How many did he eat?",
        "Ann has 3 cats and 2 dogs. How many pets does she have?",
    ]


def test_numbered_parsing_limits_dedupes_and_drops_junk():
    reply = (
        "1. Tom had 16 apples and has 13 left. How many did he eat?\n"
        "2. Tom had 16 apples and has 13 left. How many did he eat?\n"
        "3. I hope these help!\n"
        "4. A bag weighs 2.5 kg and holds 4 bags of 1.5 kg. What is the total weight?\n"
        "5. Ann has 3 cats. How many legs do they have?"
    )
    assert parse_numbered_problems(reply) == [
        "Tom had 16 apples and has 13 left. How many did he eat?",
        "A bag weighs 2.5 kg and holds 4 bags of 1.5 kg. What is the total weight?",
        "Ann has 3 cats. How many legs do they have?",
    ]
    assert len(parse_numbered_problems(reply, limit=2)) == 2
    assert parse_numbered_problems("I cannot write new problems.") == []


def test_a_reply_without_numbers_is_one_problem_when_it_reads_as_one():
    assert parse_numbered_problems("Problem: Ann has 3 cats and 2 dogs. How many pets?") == [
        "Ann has 3 cats and 2 dogs. How many pets?"
    ]
    assert parse_numbered_problems("Problem: Ann has cats.", limit=0) == []


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("Problem: Tom buys 5 apples at $2 each and 3 pears at $1. How much does he pay?",
         "Tom buys 5 apples at $2 each and 3 pears at $1. How much does he pay?"),
        ("Here is the harder version.\n**Problem:** Tom buys 5 apples at $2 each. How much does he pay?\n\n"
         "Solution: 5 x 2 = 10. The answer is 10.",
         "Tom buys 5 apples at $2 each. How much does he pay?"),
        ("Tom buys 5 apples at $2 each. How much does he pay?\nAnswer: 10",
         "Tom buys 5 apples at $2 each. How much does he pay?"),
        ("1. Add a discount.\n2. Add a second item.", None),
        ("Problem: make it harder by adding a discount", None),
    ],
)  # fmt: skip
def test_the_editors_problem_is_read_without_preamble_or_solution(reply, expected):
    assert parse_edited_problem(reply) == expected


def test_problem_shape():
    assert looks_like_problem(SEED)
    assert not looks_like_problem("How many?")  # too short
    assert not looks_like_problem("Tom has apples and eats some. How many are left?")  # no number
    assert not looks_like_problem("Tom has 16 apples and eats 3 of them.")  # nothing asked
    assert looks_like_problem("Tom has 16 apples and eats 3 of them. Find the number left.")
    # a problem that gives its answer away is a solution, or has one glued on
    assert not looks_like_problem("What is the length of the leg? In this case, the answer is actually 1.67.")
    assert not looks_like_problem("Hana saves $4 a day. How much in 30 days? The final answer is 120.")
    # a small model's solution narrative: 'find' is not what the sentence asks
    assert not looks_like_problem("To solve it, you need to find the difference of 12 and 1, which is 11.")
    assert not looks_like_problem("Tom has 3 apples. How many? " * 100)  # too long
