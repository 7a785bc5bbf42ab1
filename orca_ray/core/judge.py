"""The tiered judge: exact rules first, the teacher LLM for what the rules cannot decide and for an audit share.

The rules never guess: no final answer in a response, or none in the reference, is `undecidable`. The LLM tier
(run on Ray elsewhere) gets `grading_messages(...)` and its reply goes through the strict `parse_grading_reply`.
When an audit disagrees with a rule verdict, the rule verdict stands (exact arithmetic beats a model's reading)
and the disagreement is recorded in the row's reason, for `judge_metrics` to count and a person to review.

    >>> judge_response("2 + 3 = 5 apples.\\nThe answer is 5.", "#### 5").verdict
    'correct'
    >>> parse_grading_reply("Error Analysis: the student says 6, the setter 5.\\nFinal Verdict: Incorrect")
    'incorrect'
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from orca_ray.core.answers import (
    FinalAnswer,
    compare_answers,
    extract_final_answer,
    normalize_number,
    read_final_answer,
)
from orca_ray.schemas import CORRECT, INCORRECT, UNDECIDABLE, VERDICTS, Sample, Verdict, missing_columns

TIER_RULE = "rule"
TIER_LLM = "llm"
TIER_NONE = "none"
LLM_AUDIT = "llm audit"  # marks the judge_reason of a rule-decided row the LLM tier audited
AUDIT_DISAGREEMENT = f"{LLM_AUDIT} disagreed"  # marks a row's judge_reason; judge_metrics counts it


@dataclass(frozen=True)
class RuleJudgement:
    verdict: str  # one of schemas.VERDICTS
    predicted: str | None
    expected: str | None
    reason: str


def _reference_answer(reference: str, max_chars: int) -> FinalAnswer:
    reference = reference.strip()
    if (number := normalize_number(reference)) is not None:
        return FinalAnswer(number)
    bare = "\n" not in reference and len(reference) <= 100 and re.search(r"\\[a-zA-Z]+|\^", reference)
    if bare and not re.search(r"answer|####|boxed", reference, re.IGNORECASE):
        return FinalAnswer(reference)  # a bare LaTeX answer: math-verify compares it
    return read_final_answer(reference, max_chars)


def expected_answer(reference: str, max_chars: int = 20000) -> str | None:
    """The answer of a reference that is either a bare answer ('1,200', '\\\\frac{1}{2}') or a whole solution; None
    when it has none, or gives two different final answers (then nobody knows which is right).

    >>> expected_answer("$1,200"), expected_answer("5 + 7 = 12 apples.\\n#### 12"), expected_answer("\\\\sqrt{2}")
    ('1200', '12', '\\\\sqrt{2}')
    >>> expected_answer("#### 12\\n#### 13") is None
    True
    """
    found = _reference_answer(reference, max_chars)
    return found.answer if found.later is None else None


def judge_response(
    response: str,
    reference: str,
    question: str | None = None,
    *,
    use_math_verify: bool = True,
    max_chars: int = 20000,
) -> RuleJudgement:
    """The rule tier's verdict on one response. `reference` is an answer or a full reference solution.

    The response's first final-answer line is its answer (see answers.read_final_answer); a later line with
    another answer is named in the reason. A reference whose final-answer lines disagree is undecidable, and so
    is any answer the rules refuse to read ('1e400', '12 or 13', 'three quarters'), with the reason.

    >>> judge_response("I am not sure.", "12").verdict
    'undecidable'
    >>> judge_response("So she has $1,250 left. The answer is 1250.", "1,250").verdict
    'correct'
    """
    ref = _reference_answer(reference, max_chars) if reference else FinalAnswer(None)
    found = read_final_answer(response, max_chars) if response else FinalAnswer(None)
    predicted, expected = found.answer, ref.answer
    if ref.later is not None:
        why = f"the reference gives two different final answers ({ref.answer} first, then {ref.later})"
        return RuleJudgement(UNDECIDABLE, predicted, None, why)
    if expected is None:
        why = "no answer could be extracted from the reference" + (f" ({ref.refusal})" if ref.refusal else "")
        return RuleJudgement(UNDECIDABLE, predicted, None, why)
    if predicted is None:
        why = f"the response's final answer is not read: {found.refusal}" if found.refusal else ""
        return RuleJudgement(UNDECIDABLE, None, expected, why or "no final answer found in the response")
    same, why = compare_answers(predicted, expected, question, use_math_verify)
    if found.later is not None:
        why += f"; a later final-answer line says {found.later} (the first one counts)"
    if same is None:
        return RuleJudgement(UNDECIDABLE, predicted, expected, why)
    return RuleJudgement(CORRECT if same else INCORRECT, predicted, expected, why)


# ---------------------------------------------------------------- the LLM tier: prompt and parser

GRADER_SYSTEM = (
    "As an expert math teacher, your role is to evaluate a student's answer to a word problem. The problem comes "
    "with a correct solution written by the problem setter. There may be several ways to solve a word problem, so "
    "the student's steps need not match the setter's; the final answer, usually a number, must be the same "
    "quantity as the setter's. Ignore differences of form only: units, currency signs, thousands separators, "
    "equivalent fractions and decimals. A student who gives no final answer is incorrect."
)

GRADER_FORMAT = (
    "Use exactly this format:\n"
    "Error Analysis: <one or two sentences: the setter's final answer, the student's final answer, "
    "and whether they match>\n"
    "Final Verdict: <Correct or Incorrect>\n"
    "Write nothing after the Final Verdict line."
)

_VERDICT_LINE_RE = re.compile(r"^[\s*_#>-]*final\s+verdict\b", re.IGNORECASE)
_STRICT_VERDICT_RE = re.compile(
    r"^[\s*_#>-]*final\s+verdict[\s*_]*:[\s*_]*(correct|incorrect)[\s*_.!]*$", re.IGNORECASE
)


def grading_messages(question: str, reference_solution: str, student_response: str) -> list[dict]:
    """Chat messages asking the teacher whether the student's final answer is right (Orca-Math's grading prompt).

    >>> messages = grading_messages("1+1?", "1+1=2. The answer is 2.", "The answer is 2.")
    >>> [m["role"] for m in messages], "Final Verdict" in messages[-1]["content"]
    (['system', 'user'], True)
    """
    user = (
        f"Problem:\n{question.strip()}\n\n"
        f"Problem setter's solution:\n{reference_solution.strip()}\n\n"
        f"Student's solution:\n{student_response.strip()}\n\n"
        f"{GRADER_FORMAT}"
    )
    return [{"role": "system", "content": GRADER_SYSTEM}, {"role": "user", "content": user}]


def parse_grading_reply(text: str) -> str:
    """CORRECT or INCORRECT from a grader's reply; UNDECIDABLE unless the reply has exactly one verdict line, it is
    the last non-empty line, and it says exactly 'Correct' or 'Incorrect' (markdown emphasis allowed).

    >>> parse_grading_reply("Final Verdict: **Correct**")
    'correct'
    >>> parse_grading_reply("Final Verdict: Correct\\nFinal Verdict: Incorrect")
    'undecidable'
    """
    if not text:
        return UNDECIDABLE
    lines = [line for line in text.strip().splitlines() if line.strip()]
    verdict_lines = [i for i, line in enumerate(lines) if _VERDICT_LINE_RE.match(line)]
    if len(verdict_lines) != 1 or verdict_lines[0] != len(lines) - 1:
        return UNDECIDABLE
    m = _STRICT_VERDICT_RE.match(lines[-1])
    if m is None:
        return UNDECIDABLE
    return CORRECT if m.group(1).lower() == "correct" else INCORRECT


# ---------------------------------------------------------------- routing


def audit_fraction(key: str) -> float:
    """A stable number in [0, 1) for a row key: the same rows are audited on every re-run."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def needs_llm(judgement: RuleJudgement | Verdict, key: str, audit_share: float) -> bool:
    """Whether a row goes to the LLM tier: every undecidable row, and `audit_share` of the decided ones, chosen
    by a hash of `key` (e.g. 'problem_id:sample_index').

    >>> needs_llm(RuleJudgement("undecidable", None, "3", "no answer"), "p1:0", 0.0)
    True
    >>> needs_llm(RuleJudgement("correct", "3", "3", "same number"), "p1:0", 0.0)
    False
    """
    if judgement.verdict == UNDECIDABLE:
        return True
    return audit_fraction(key) < audit_share


def audit_disagrees(rule: RuleJudgement | Verdict, llm_verdict: str) -> bool:
    """True when the rules decided a row and the LLM decided it the other way."""
    return rule.verdict != UNDECIDABLE and llm_verdict != UNDECIDABLE and llm_verdict != rule.verdict


def merge_llm_verdict(rule: RuleJudgement | Verdict, llm_verdict: str) -> tuple[str, str]:
    """The final verdict and the tier that decided it (`rule` may also be a rule-tier Verdict row).

    An undecidable rule row takes the LLM's verdict (tier 'llm', even when the LLM could not decide either). A
    decided rule row keeps its verdict (tier 'rule'): the LLM only audits it, and a disagreement is counted
    (audit_disagrees), never allowed to flip an exact comparison.

    >>> merge_llm_verdict(RuleJudgement("undecidable", None, "3", "no answer"), "incorrect")
    ('incorrect', 'llm')
    >>> merge_llm_verdict(RuleJudgement("correct", "3", "3", "same number"), "incorrect")
    ('correct', 'rule')
    """
    if llm_verdict not in VERDICTS:
        raise ValueError(f"llm_verdict must be one of {VERDICTS}, got {llm_verdict!r}")
    if rule.verdict == UNDECIDABLE:
        return llm_verdict, TIER_LLM
    return rule.verdict, TIER_RULE


def _as_sample(sample: Sample | dict[str, Any]) -> Sample:
    if isinstance(sample, Sample):
        return sample
    missing = missing_columns(list(sample), Sample)
    if missing:
        raise ValueError(f"a sample row lacks the columns {missing}")
    names = set(Sample.__dataclass_fields__)
    return Sample(**{k: v for k, v in sample.items() if k in names})


def judge_verdict_row(
    sample: Sample | dict[str, Any],
    reference_answer: str | None,
    reference_solution: str | None,
    *,
    use_math_verify: bool = True,
    max_chars: int = 20000,
    llm_verdict: str | None = None,
) -> Verdict:
    """The Verdict row of one Sample: the rule tier against the reference answer (else the answer extracted from
    the reference solution), merged with the LLM tier's verdict when one is given. Lineage is kept.

    >>> s = Sample(problem_id="p1", sample_index=0, question="2+3?", response="The answer is 5.", run_id="r")
    >>> row = judge_verdict_row(s, "5", None)
    >>> row.verdict, row.judge_tier, row.run_id
    ('correct', 'rule', 'r')
    """
    sample = _as_sample(sample)
    reference = reference_answer if reference_answer not in (None, "") else reference_solution
    if reference in (None, ""):
        rule = RuleJudgement(UNDECIDABLE, extract_final_answer(sample.response or "", max_chars), None, "no reference")
    else:
        rule = judge_response(
            sample.response, reference, sample.question, use_math_verify=use_math_verify, max_chars=max_chars
        )
    verdict, tier, reason = rule.verdict, TIER_RULE, rule.reason
    if llm_verdict is not None:
        verdict, tier = merge_llm_verdict(rule, llm_verdict)
        if tier == TIER_LLM:
            reason = f"rules: {rule.reason}; llm: {llm_verdict}"
        elif audit_disagrees(rule, llm_verdict):
            reason = f"{rule.reason}; {AUDIT_DISAGREEMENT} (said {llm_verdict}); rule verdict kept"
        else:
            reason = f"{rule.reason}; {LLM_AUDIT}: {llm_verdict}"
    elif verdict == UNDECIDABLE:
        tier = TIER_NONE
    return Verdict(
        problem_id=sample.problem_id,
        sample_index=sample.sample_index,
        question=sample.question,
        response=sample.response,
        verdict=verdict,
        predicted=rule.predicted,
        expected=rule.expected,
        judge_tier=tier,
        judge_reason=reason,
        reference_solution=reference_solution,
        num_tokens=sample.num_tokens,
        finish_reason=sample.finish_reason,
        adapter=sample.adapter,
        run_id=sample.run_id,
        iteration=sample.iteration,
        policy_version=sample.policy_version,
        source=sample.source,
        seed=sample.seed,
    )


def was_audited(row: Verdict) -> bool:
    """Whether the LLM tier audited a row the rules decided (an audit share's row; its rule verdict stands)."""
    return row.judge_tier == TIER_RULE and LLM_AUDIT in (row.judge_reason or "")


def judge_metrics(rows: Iterable[Verdict]) -> dict[str, float]:
    """Flat 'judge/<name>' counts of verdicts, deciding tiers and audit disagreements.

    >>> judge_metrics([judge_verdict_row(Sample("p", 0, "q", "The answer is 4."), "4", None)])["judge/correct"]
    1
    """
    counts: dict[str, float] = {f"judge/{v}": 0 for v in VERDICTS}
    counts.update({f"judge/tier_{t}": 0 for t in (TIER_RULE, TIER_LLM, TIER_NONE)})
    counts["judge/audit_disagreements"] = 0
    counts["judge/rows"] = 0
    for row in rows:
        counts["judge/rows"] += 1
        counts[f"judge/{row.verdict}"] += 1
        counts[f"judge/tier_{row.judge_tier}"] = counts.get(f"judge/tier_{row.judge_tier}", 0) + 1
        counts["judge/audit_disagreements"] += AUDIT_DISAGREEMENT in row.judge_reason
    return counts
