"""Final answers in free text, their canonical form, and when two answers are the same: exact rules for numbers
(fractions.Fraction), Hugging Face's math-verify for LaTeX and symbolic answers our rules cannot read.

    >>> extract_final_answer("She pays 3 x $4 = $12.\\nThe answer is $12.")
    '12'
    >>> normalize_number("1 1/2 cups"), normalize_number("\\\\frac{3}{4}"), normalize_number("$1,234.50")
    ('1.5', '0.75', '1234.5')
    >>> answers_match("10%", "10", question="What percent of the apples are red?")
    True

Where math-verify (0.9) and our rules part ways on grade-school answers (each row is a test in
tests/unit/test_answers.py); numbers our normalizer reads are always decided by our rules:

| predicted | reference | math-verify | ours | why ours |
| --- | --- | --- | --- | --- |
| `1 1/2` | `1.5` | no (reads 1) | yes | mixed numbers are common in grade-school answers |
| `10%` | `10`, question asks "what percent" | yes | yes | the question asks for the percent itself |
| `10%` | `10`, question asks "how many apples" | yes | no | a percent is not a count |
| `10%` | `10`, question unknown | yes | yes | without the question, read the sign as the unit asked for |
| `10%` | `0.1` | yes | yes | the same number |
| `25` | `0.25`, question asks "what percentage" | no | yes | a reference written as a fraction of one |
| `0.333333` | `1/3` | yes (6-digit float rounding) | yes | rounded to the digits given, within 1% |
| `0.33` | `1/3` | no | yes | rounded to the digits given, within 1% |
| `0.3` | `1/3` | no | no | one decimal digit is too coarse to count as the answer |
| `1000001` | `1000000` | no | no | exact: no float tolerance on integers |
| `$1,000` / `12 cm` / `3.0` | `1000` / `12` / `3` | yes | yes | both agree |
| `\\sqrt{4}` (boxed) | `2` | yes (through math-verify) | - | ours cannot read it: math-verify decides |
"""

from __future__ import annotations

import logging
import re
from fractions import Fraction

log = logging.getLogger(__name__)

MAX_NUMBER_CHARS = 200  # longer "numbers" are prose; also bounds the work done on any one candidate
_DECIMAL_DIGITS_LIMIT = 12  # a terminating decimal longer than this is written as p/q instead

# A plain number: thousands separators (never followed by another digit), digits with an optional decimal part,
# or a leading-dot decimal. No nested quantifiers: matching is linear in the input.
_NUM = r"(?:\d{1,3}(?:,\d{3})+(?![\d])(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
_CURRENCY_SYMBOLS = "$€£¥₹"
_MINUS_SIGNS = "-\u2212\u2013"  # ASCII hyphen, unicode minus, en dash (seen as a minus in model output)

# One numeric answer inside running text: an optional sign and currency, then a LaTeX fraction, a mixed number,
# a fraction or a plain number, then an optional percent sign. The look-behind keeps '10-3' from reading '-3'.
_TOKEN_RE = re.compile(
    rf"(?<![\w.])(?:[{_MINUS_SIGNS}+]\s?)?(?:[{_CURRENCY_SYMBOLS}]\s?)?"
    rf"(?:\\[dt]?frac\{{\s*[{_MINUS_SIGNS}]?{_NUM}\s*\}}\{{\s*{_NUM}\s*\}}"
    rf"|\d+\s+\d+\s*/\s*\d+(?![\d/])"
    rf"|{_NUM}\s*/\s*{_NUM}"
    rf"|{_NUM})"
    rf"(?:\s+(?:thousand|million|billion)\b)?"
    rf"(?:\s?(?:\\?%|percent\b))?",
    re.IGNORECASE,
)

_GSM8K_RE = re.compile(r"####[ \t]*")
_ANSWER_IS_RE = re.compile(r"\banswer\s+is\b\s*:?\s*", re.IGNORECASE)
_FINAL_ANSWER_RE = re.compile(r"\bfinal\s+answer\s*[:：]\s*", re.IGNORECASE)
_ANSWER_COLON_RE = re.compile(r"(?:^|\n)[ \t]*(?:\*\*)?(?:A|Answer)(?:\*\*)?[ \t]*[:：](?:\*\*)?[ \t]*", re.IGNORECASE)

_LATEX_WRAPPER_RE = re.compile(r"\\(?:text|textbf|mathrm|mathbf|mbox|operatorname)\s*\{([^{}]*)\}")
_LATEX_FRAC_RE = re.compile(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
_ASSIGNMENT_RE = re.compile(r"^[a-zA-Z]\w{0,20}\s*=\s*")
_UNIT_TAIL_RE = re.compile(r"(?<=[\d%])\s*(?!percent\b)[a-zA-Z][a-zA-Z .'/²³-]{0,40}$")
_CURRENCY_WORD_RE = re.compile(r"^(?:usd|eur|gbp|rs\.?|inr)\s*|\s*(?:usd|eur|gbp)$", re.IGNORECASE)
_SCALE_RE = re.compile(r"(?<=\d)\s+(thousand|million|billion)\b", re.IGNORECASE)
_SCALES = {"thousand": 10**3, "million": 10**6, "billion": 10**9}
_PERCENT_RE = re.compile(r"\s*(?:%|percent)$", re.IGNORECASE)
_MIXED_RE = re.compile(rf"({_NUM})\s+(\d+)\s*/\s*(\d+)")
_FRACTION_RE = re.compile(rf"({_NUM})\s*/\s*({_NUM})")
_PLAIN_RE = re.compile(_NUM)
_MATH_SPAN_RE = re.compile(r"^\s*(?:\$\$?([^$]{1,200})\$\$?|\\\((.{1,200}?)\\\)|\\\[(.{1,200}?)\\\])", re.DOTALL)
_LATEX_COMMAND_RE = re.compile(r"\\[a-zA-Z]+|\^")
_SENTENCE_END_RE = re.compile(r"\.(?=\s|$)")  # a full stop, not a decimal point
# Characters that carry no value but break matching: zero-width spaces and joiners, the byte-order mark, and bidi
# controls (seen in copied web text). Removed before any rule looks at the text.
_INVISIBLE_RE = re.compile("[\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
# A no-break, narrow no-break, thin or figure space between digit groups is a thousands separator ('12 000',
# SI style); anywhere else it is a space.
_GROUP_SPACE_RE = re.compile("(?<=\\d)[\u00a0\u202f\u2009\u2007](?=\\d{3}(?!\\d))")
_ODD_SPACE_RE = re.compile("[\u00a0\u202f\u2009\u2007\u2002-\u2006\u2008\u200a\u3000]")
_PERCENT_QUESTION_RE = re.compile(r"\bpercent(?:age)?s?\b|\b(?:what|which|how\s+many)\s*%", re.IGNORECASE)


# ---------------------------------------------------------------- numbers


def clean_unicode(text: str) -> str:
    """Text with invisible characters removed and Unicode spaces made plain; digit groups split by a no-break or
    thin space become comma-grouped.

    >>> clean_unicode("12\u202f000 apples\u200b"), clean_unicode("a\u00a0b")
    ('12,000 apples', 'a b')
    """
    text = _INVISIBLE_RE.sub("", text)
    if text.isascii():
        return text
    return _ODD_SPACE_RE.sub(" ", _GROUP_SPACE_RE.sub(",", text))


def _strip_latex(text: str) -> str:
    # '$' is either currency or a LaTeX math delimiter: both carry no value.
    s = text.replace("\\$", " ").replace("$", " ").replace("\\%", "%").replace("{,}", ",").replace("\\!", "")
    s = s.replace("\\left", "").replace("\\right", "").replace("\\,", "").replace("\\;", " ").replace("\\ ", " ")
    s = s.replace("^\\circ", "").replace("^{\\circ}", "").replace("°", "").replace("~", " ")
    for wrapper in ("\\(", "\\)", "\\[", "\\]"):
        s = s.replace(wrapper, " ")
    s = s.strip()
    if s.startswith("\\boxed{") and s.endswith("}"):
        s = s[len("\\boxed{") : -1]
    s = _LATEX_WRAPPER_RE.sub(r" \1", s)
    s = _LATEX_FRAC_RE.sub(r" \1/\2", s)
    return s.replace("{", "").replace("}", "") if "\\" not in s else s


def _plain_to_fraction(text: str) -> Fraction | None:
    """A sign-less number: '1,234.5', '.5', '3/4', '1 1/2'; None for anything else."""
    if m := _PLAIN_RE.fullmatch(text):
        return Fraction(m.group(0).replace(",", ""))
    if m := _MIXED_RE.fullmatch(text):
        whole, num, den = Fraction(m.group(1).replace(",", "")), int(m.group(2)), int(m.group(3))
        # '3 5/2' is not a mixed number; '1 1/2' is.
        return whole + Fraction(num, den) if 0 < num < den and whole.denominator == 1 else None
    if m := _FRACTION_RE.fullmatch(text):
        den = Fraction(m.group(2).replace(",", ""))
        return Fraction(m.group(1).replace(",", "")) / den if den else None
    return None


def parse_number(text: str) -> tuple[Fraction, bool] | None:
    """The exact value of a number written in any of the accepted forms, and whether it carried a percent sign.

    >>> parse_number("-$1,200.50")
    (Fraction(-2401, 2), False)
    >>> parse_number("12.5 %")
    (Fraction(25, 2), True)
    """
    if not text or len(text) > MAX_NUMBER_CHARS:
        return None
    s = _strip_latex(clean_unicode(text)).strip().rstrip(".,;:!?").strip()
    s = _ASSIGNMENT_RE.sub("", s)
    s = _CURRENCY_WORD_RE.sub("", s)
    scale = 1
    if m := _SCALE_RE.search(s):  # '2 million dollars'
        scale, s = _SCALES[m.group(1).lower()], s[: m.start()] + s[m.end() :]
    s = _UNIT_TAIL_RE.sub("", s)  # '12 cm', '5 apples', '3 dollars per hour'
    percent = bool(_PERCENT_RE.search(s))
    s = _PERCENT_RE.sub("", s).strip()
    s = _UNIT_TAIL_RE.sub("", s)  # a unit before the percent sign is not a thing; after it ('10% off') it is
    negative = False
    while s and (s[0] in _MINUS_SIGNS or s[0] == "+" or s[0] in _CURRENCY_SYMBOLS or s[0].isspace()):
        negative ^= s[0] in _MINUS_SIGNS
        s = s[1:]
    value = _plain_to_fraction(s.strip())
    if value is None:
        return None
    value *= scale
    return (-value if negative else value), percent


def format_number(value: Fraction, percent: bool = False) -> str:
    """The canonical text of an exact number: '12', '2.5', '-0.75', '1/3' (and a '%' suffix for percents).

    >>> format_number(Fraction(5, 2)), format_number(Fraction(2, 3)), format_number(-12), format_number(10, True)
    ('2.5', '2/3', '-12', '10%')
    """
    value = Fraction(value)
    suffix = "%" if percent else ""
    if value.denominator == 1:
        return f"{value.numerator}{suffix}"
    den, twos, fives = value.denominator, 0, 0
    while den % 2 == 0:
        den, twos = den // 2, twos + 1
    while den % 5 == 0:
        den, fives = den // 5, fives + 1
    digits = max(twos, fives)
    if den != 1 or digits > _DECIMAL_DIGITS_LIMIT:
        return f"{value.numerator}/{value.denominator}{suffix}"
    scaled = abs(value) * 10**digits
    whole, frac = divmod(int(scaled), 10**digits)
    sign = "-" if value < 0 else ""
    return f"{sign}{whole}.{frac:0{digits}d}".rstrip("0") + suffix


def normalize_number(text: str) -> str | None:
    """The canonical string of one number written with separators, currency, units, a sign, decimals, a fraction,
    a mixed number or simple LaTeX; a percent keeps its sign ('10%'). None when `text` is not one number.

    >>> [normalize_number(t) for t in ("$1,234", "−5", ".5", "3.0", "\\\\dfrac{3}{4}", "x = 7 cm", "ten")]
    ['1234', '-5', '0.5', '3', '0.75', '7', None]
    """
    parsed = parse_number(text)
    return None if parsed is None else format_number(*parsed)


# ---------------------------------------------------------------- extraction


def _last_match_end(pattern: re.Pattern[str], text: str) -> int | None:
    end = None
    for m in pattern.finditer(text):
        end = m.end()
    return end


def _boxed_content(text: str) -> str | None:
    start = text.rfind("\\boxed")
    if start < 0:
        return None
    open_brace = text.find("{", start)
    if open_brace < 0 or open_brace > start + len("\\boxed") + 1:
        return None
    depth = 0
    for i in range(open_brace, min(len(text), open_brace + MAX_NUMBER_CHARS)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[open_brace + 1 : i].strip()
    return None


def _is_math_expression(text: str) -> bool:
    return bool(_LATEX_COMMAND_RE.search(text)) and len(text) <= MAX_NUMBER_CHARS


def _answer_in_segment(segment: str) -> str | None:
    """The answer right after a marker ('The answer is', 'Final answer:'): a LaTeX span if the segment opens with
    one, else the first number of its first sentence after the last '=' ('The answer is 5 + 3 = 8.' is 8), else
    the first number in it."""
    if m := _MATH_SPAN_RE.match(segment):
        span = next(g for g in m.groups() if g is not None).strip()
        if (number := normalize_number(span)) is not None:
            return number
        if _is_math_expression(span):
            return span
    sentence = _SENTENCE_END_RE.split(segment, maxsplit=1)[0]
    if "=" in sentence and (m := _TOKEN_RE.search(sentence.rpartition("=")[2])):
        return normalize_number(m.group(0))
    if m := _TOKEN_RE.search(segment):
        return normalize_number(m.group(0))
    return None


def _after_marker(pattern: re.Pattern[str], text: str) -> str | None:
    end = _last_match_end(pattern, text)
    if end is None:
        return None
    line_end = text.find("\n", end)
    return _answer_in_segment(text[end : line_end if line_end >= 0 else end + MAX_NUMBER_CHARS])


def _gsm8k_answer(text: str) -> str | None:
    # The whole rest of the line must be the number: a markdown header '#### Step 1' is not an answer.
    end = _last_match_end(_GSM8K_RE, text)
    line_end = text.find("\n", end)
    return normalize_number(text[end : line_end if line_end >= 0 else None])


def extract_final_answer(text: str, max_chars: int = 20000) -> str | None:
    """The final answer of a solution, normalized; None when there is none. Looks, in order, for GSM8K's
    '#### x', 'The answer is x', '\\\\boxed{x}', 'Final answer: x', 'A: x' / 'Answer: x', then the last number.
    The last occurrence of a marker wins. A boxed expression that is not a number comes back as its LaTeX.

    >>> extract_final_answer("48/2 = <<48/2=24>>24 clips.\\n#### 1,200")
    '1200'
    >>> extract_final_answer("So x = \\\\boxed{\\\\frac{1}{2}}."), extract_final_answer("no digits here")
    ('0.5', None)
    """
    if not text:
        return None
    text = text[-max_chars:] if max_chars > 0 else ""  # the answer is at the end; regexes see at most max_chars
    text = clean_unicode(text)
    if "####" in text and (answer := _gsm8k_answer(text)) is not None:
        return answer
    if (answer := _after_marker(_ANSWER_IS_RE, text)) is not None:
        return answer
    if (boxed := _boxed_content(text)) is not None:
        number = normalize_number(boxed)
        if number is not None:
            return number
        if boxed and len(boxed) <= MAX_NUMBER_CHARS:
            return boxed
    for marker in (_FINAL_ANSWER_RE, _ANSWER_COLON_RE):
        if (answer := _after_marker(marker, text)) is not None:
            return answer
    last = None
    for m in _TOKEN_RE.finditer(text):
        last = m
    return normalize_number(last.group(0)) if last else None


# ---------------------------------------------------------------- equivalence


def asks_for_percent(question: str | None) -> bool:
    """Whether the question's last sentence asks for a percent ('What percentage of ...?').

    >>> asks_for_percent("A shirt costs $20 with a 10% discount. What percent did she save?")
    True
    >>> asks_for_percent("A shirt costs $20 with a 10% discount. How much does she pay?")
    False
    """
    if not question:
        return False
    sentences = [s for s in re.split(r"(?<=[.?!])\s+", question.strip()[-2000:]) if s.strip()]
    return bool(sentences) and bool(_PERCENT_QUESTION_RE.search(sentences[-1]))


def _rounded_match(predicted: Fraction, expected: Fraction, predicted_text: str) -> bool:
    """A decimal answer rounded to the digits it gives (at least two), within 1% of an answer that needs more."""
    digits = len(predicted_text.split(".")[1].rstrip("%")) if "." in predicted_text else 0
    if digits < 2 or expected == 0:
        return False
    close = abs(predicted - expected) <= Fraction(1, 2 * 10**digits)
    return close and abs(predicted - expected) / abs(expected) <= Fraction(1, 100)


def _compare_numbers(predicted: str, expected: str, question: str | None) -> tuple[bool, str] | None:
    p, e = parse_number(predicted), parse_number(expected)
    if p is None or e is None:
        return None
    (p_value, p_pct), (e_value, e_pct) = p, e
    p_real = p_value / 100 if p_pct else p_value
    e_real = e_value / 100 if e_pct else e_value
    if p_real == e_real:
        return True, "same number"
    if p_pct != e_pct and p_value == e_value:
        # '10%' against a reference of 10: right when the question asks for a percent (or is unknown).
        if question is None or asks_for_percent(question):
            return True, "same number, percent sign read as the unit the question asks for"
        return False, "a percent where the question does not ask for one"
    fraction_of_one = 0 < abs(e_value) <= 1 and not e_pct  # 0.25 as the reference of "what percentage"
    if fraction_of_one and not p_pct and asks_for_percent(question) and p_value == e_value * 100:
        return True, "percent asked; the reference is written as a fraction of one"
    if _rounded_match(p_real, e_real, format_number(*p)):
        return True, "rounded to the digits given"
    return False, "different numbers"


def _math_verify_equal(predicted: str, expected: str) -> bool | None:
    """math-verify's verdict, or None when it cannot parse one side.

    Both timeouts are off: math-verify implements them with signal.alarm, which only works in the main thread of
    the main interpreter and so raises inside Ray actors and thread pools. Inputs are short extracted answers
    (at most MAX_NUMBER_CHARS), which bounds the work sympy can be asked to do.
    """
    from math_verify import parse, verify  # sympy behind it takes ~1 s to import: only when needed

    _quiet_math_verify_timeout_warning()

    def wrap(s: str) -> str:
        return s if "$" in s or "\\(" in s or "\\[" in s else f"${s}$"

    # no_fallback: an expression sympy cannot read gives [] (undecidable), not its raw string (a string compare)
    gold = parse(wrap(expected[:MAX_NUMBER_CHARS]), fallback_mode="no_fallback", parsing_timeout=None)
    pred = parse(wrap(predicted[:MAX_NUMBER_CHARS]), fallback_mode="no_fallback", parsing_timeout=None)
    if not gold or not pred:
        return None
    return bool(verify(gold, pred, timeout_seconds=None))


class _DropTimeoutWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Timeout is disabled")


def _quiet_math_verify_timeout_warning() -> None:
    # We turn the timeouts off on purpose (see _math_verify_equal); the warning would repeat in every worker.
    for name in ("math_verify.parser", "math_verify.grader"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropTimeoutWarning) for f in logger.filters):
            logger.addFilter(_DropTimeoutWarning())


def compare_answers(
    predicted: str, expected: str, question: str | None = None, use_math_verify: bool = True
) -> tuple[bool | None, str]:
    """Whether two answers are the same, and why: True, False, or None when neither our rules nor math-verify can
    read both. Numbers our rules read are compared exactly; math-verify decides the rest (LaTeX, symbols).

    >>> compare_answers("1 1/2", "1.5")
    (True, 'same number')
    """
    if not predicted or not expected:
        return None, "empty answer"
    numeric = _compare_numbers(predicted, expected, question)
    if numeric is not None:
        return numeric
    if not use_math_verify:
        return None, "not a number our rules read (math-verify is off)"
    equal = _math_verify_equal(predicted, expected)
    if equal is None:
        return None, "math-verify could not parse one side"
    return equal, "math-verify: equivalent" if equal else "math-verify: not equivalent"


def answers_match(predicted: str, expected: str, question: str | None = None, use_math_verify: bool = True) -> bool:
    """True when `predicted` is the same answer as `expected` (see compare_answers); False when different or unknown.

    >>> answers_match("$1,000", "1000"), answers_match("12 cm", "13")
    (True, False)
    """
    return compare_answers(predicted, expected, question, use_math_verify)[0] is True
