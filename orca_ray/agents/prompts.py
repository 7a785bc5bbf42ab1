"""What the Agent-Instruct agents are told, and how their replies are read back: plain text, no AutoGen.

Ask Me Anything turns one seed problem into several that ask for other quantities of the same situation; the
Suggester proposes how to make a problem harder and the Editor rewrites it (Orca-Math, section 3). Each reply
format asked for here is the format parsed here.

    >>> parse_numbered_problems("Problem 1: Ann has 3 cats. How many legs?\\nProblem 2: Bob has 2 dogs. How many?")
    ['Ann has 3 cats. How many legs?', 'Bob has 2 dogs. How many?']
    >>> parse_edited_problem("Problem: Tom has 5 apples and buys 7 more. How many now?\\nSolution: 12")
    'Tom has 5 apples and buys 7 more. How many now?'
"""

from __future__ import annotations

import re

ASK_ME_ANYTHING = "ask_me_anything"
SUGGESTER = "suggester"
EDITOR = "editor"
SUGGESTER_EDITOR = "suggester_editor"  # the team, as a row's family and in the yield summary

ASK_ME_ANYTHING_SYSTEM = (
    "You write new math word problems from a given one. Keep the same situation, people and objects, but ask "
    "for a different quantity each time: make one of the given numbers the unknown and give the original answer "
    "as a known number instead. Every new problem must be solvable from its own text and have one numeric "
    "answer. Do not solve the problems."
)

SUGGESTER_SYSTEM = (
    "You are the Suggester. Read the latest math word problem and suggest two or three ways to make it harder: "
    "more steps, another quantity, a rate, a fraction or a percentage, a condition. Describe the changes only. "
    "Do not write the new problem and do not solve it."
)

EDITOR_SYSTEM = (
    "You are the Editor. Rewrite the latest math word problem following the Suggester's latest suggestions. "
    "The new problem must be solvable from its own text and have one numeric answer. Reply with the new problem "
    "only, on one line starting with 'Problem:'. Do not solve it."
)


def ask_me_anything_task(question: str, answer: str | None, n: int) -> str:
    """The one message Ask Me Anything gets: the seed (with its answer when known) and the reply format."""
    known = f"\nAnswer: {answer}" if answer else ""
    return (
        f"Problem: {question.strip()}{known}\n\n"
        f"Write {n} new problems about this situation, each asking for a different quantity. Put each on its own "
        f"line starting with 'Problem 1:', 'Problem 2:' and so on, and write nothing else."
    )


def suggester_editor_task(question: str) -> str:
    """The message that opens a Suggester-Editor conversation."""
    return f"Make this math word problem harder.\nProblem: {question.strip()}"


# ---------------------------------------------------------------- reading replies

_MIN_PROBLEM_CHARS = 20
_MAX_PROBLEM_CHARS = 1500
# A question mark, or a sentence that starts by asking ("Find the total.", not "you need to find")
_ASKS = re.compile(r"\?|(?:^|[.!:]\s+)(?:how|what|find|calculate|compute|determine)\b", re.IGNORECASE)
# "Problem 2:", "**Problem 2**:", "Question 2.", "Problem:", "2." or "2)" at the start of a line
_NUMBERED = re.compile(
    r"^\s*[*#]*\s*(?:(?:new\s+)?(?:problem|question)\s*\d{0,2}|\d{1,2})\s*[*]*\s*[:.)][*]*(?=\s)", re.I | re.M
)
_LABEL_PATTERN = r"^\s*[*#]*\s*(?:new\s+|harder\s+|rewritten\s+)?(?:problem|question)\s*[*]*\s*:\s*[*]*"
_LABEL = re.compile(_LABEL_PATTERN, re.I)  # at the start of a text
_LABEL_LINE = re.compile(_LABEL_PATTERN, re.I | re.M)  # at the start of any line
# Where a problem ends and something else (a solution, an answer, a note) begins
_TRAILER = re.compile(r"\n\s*(?:[*#]*\s*)?(?:solution|answer|explanation|note|suggestions?)\b|\n\s*\n", re.I)
_ENUMERATOR = re.compile(r"^\(?\d{1,2}[.)]\s+")  # '4. ' left over when a model numbers twice
# A problem does not give away its answer: text that does is a solution, or a problem with one glued on
_GIVES_ANSWER = re.compile(r"\banswer\s+(?:is|would\s+be|will\s+be)\b", re.I)


def looks_like_problem(text: str) -> bool:
    """A plausible word problem: not too short or long, with a number in it, something asked (a question mark,
    or a sentence that starts with how, what, find, calculate, compute or determine), and no answer given away.

    >>> looks_like_problem("Sam has 4 pens. How many pens do 3 Sams have?")
    True
    >>> looks_like_problem("Sure! Here are the problems.")
    False
    >>> looks_like_problem("To solve it, you need to find the difference, which is 12 - 1 = 11.")
    False
    """
    text = text.strip()
    return (
        _MIN_PROBLEM_CHARS <= len(text) <= _MAX_PROBLEM_CHARS
        and any(c.isdigit() for c in text)
        and bool(_ASKS.search(text))
        and not _GIVES_ANSWER.search(text)
    )


def _clean(text: str) -> str:
    text = _LABEL.sub("", text.strip(), count=1)
    text = _TRAILER.split(text, maxsplit=1)[0]
    return _ENUMERATOR.sub("", " ".join(text.replace("**", "").split()), count=1)


def parse_numbered_problems(reply: str, limit: int | None = None) -> list[str]:
    """The problems of an Ask Me Anything reply, in order: numbered items that look like problems, no repeats.
    A reply with no numbered item counts as one problem when it looks like one."""
    if not _NUMBERED.search(reply):
        single = parse_edited_problem(reply)
        return [single] if single and limit != 0 else []
    starts = [m.end() for m in _NUMBERED.finditer(reply)]
    ends = [m.start() for m in _NUMBERED.finditer(reply)][1:] + [len(reply)]
    problems: list[str] = []
    for start, end in zip(starts, ends, strict=True):
        text = _clean(reply[start:end])
        if looks_like_problem(text) and text not in problems:
            problems.append(text)
    return problems[:limit] if limit is not None else problems


def parse_edited_problem(reply: str) -> str | None:
    """The Editor's rewritten problem, or None when the reply holds none."""
    match = _LABEL_LINE.search(reply)
    text = _clean(reply[match.start() :] if match else reply)
    return text if looks_like_problem(text) else None
