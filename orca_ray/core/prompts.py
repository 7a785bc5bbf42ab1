"""How the student and the teacher are asked, and the one final-answer line every solution ends with.

The student is trained to end with `The answer is <number>.`; the judge reads that line first.

    >>> final_answer_line("12")
    'The answer is 12.'
    >>> student_messages("What is 2+3?")[-1]["role"]
    'user'
"""

from __future__ import annotations

FINAL_ANSWER_PREFIX = "The answer is"

STUDENT_INSTRUCTION = "Solve the problem step by step. End with the line 'The answer is <number>.'"

TEACHER_SYSTEM = (
    "You are an expert math teacher. Solve the problem step by step, showing each calculation, "
    "and end with a final line of the form 'The answer is <number>.' with nothing after it."
)


def final_answer_line(answer: str) -> str:
    return f"{FINAL_ANSWER_PREFIX} {answer}."


def student_prompt(question: str) -> str:
    """The user message the student sees for a problem (the same text at sampling, training and evaluation)."""
    return f"{question.strip()}\n{STUDENT_INSTRUCTION}"


def student_messages(question: str, system_prompt: str | None = None) -> list[dict]:
    """Chat messages for the student; without a system prompt the model's chat template adds its default."""
    messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
    return messages + [{"role": "user", "content": student_prompt(question)}]


def teacher_messages(question: str) -> list[dict]:
    """Chat messages asking an LLM teacher for a reference solution."""
    return [{"role": "system", "content": TEACHER_SYSTEM}, {"role": "user", "content": question.strip()}]
