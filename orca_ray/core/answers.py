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
from typing import NamedTuple

from orca_ray.core import number_words

log = logging.getLogger(__name__)

MAX_NUMBER_CHARS = 200  # longer "numbers" are prose; also bounds the work done on any one candidate
_DECIMAL_DIGITS_LIMIT = 12  # a terminating decimal longer than this is written as p/q instead

# A plain number: thousands separators (never followed by another digit), digits with an optional decimal part,
# or a leading-dot decimal. No nested quantifiers: matching is linear in the input.
_NUM = r"(?:\d{1,3}(?:,\d{3})+(?![\d])(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
# A power after a number: '2.5e3', '2.5 x 10^3', '2.5 \times 10^{3}', '2^5' (superscripts become '^' first).
_TIMES = r"(?:[×x*·]|\\times|\\cdot)"
_POWER = rf"(?:[eE][-+]?\d+|\s{{0,2}}{_TIMES}\s{{0,2}}10\s?\^\s?\{{?[-+−]?\d+\}}?|\s?\^\s?\{{?[-+−]?\d+\}}?)"
MAX_EXPONENT = 50  # a power of ten beyond 10^±50 is no grade-school answer: refused, not read
_CURRENCY_SYMBOLS = "$€£¥₹"
_MINUS_SIGNS = "-\u2212\u2013"  # ASCII hyphen, unicode minus, en dash (seen as a minus in model output)

# One numeric answer inside running text: an optional sign and currency, then a LaTeX fraction, a mixed number,
# a fraction or a plain number, then an optional percent sign. The look-behind keeps '10-3' from reading '-3'.
_TOKEN_RE = re.compile(
    rf"(?<![\w.])(?:[{_MINUS_SIGNS}+]\s?)?(?:[{_CURRENCY_SYMBOLS}]\s?)?"
    rf"(?:\\[dt]?frac\{{\s*[{_MINUS_SIGNS}]?{_NUM}\s*\}}\{{\s*{_NUM}\s*\}}"
    rf"|\d+\s+\d+\s*/\s*\d+(?![\d/])"
    rf"|{_NUM}\s*/\s*{_NUM}"
    rf"|{_NUM}{_POWER}?)"
    rf"(?:\s+(?:thousand|million|billion)\b)?"
    rf"(?:\s?(?:\\?%|percent\b))?",
    re.IGNORECASE,
)

# The final-answer markers, in one pattern so one scan finds the first: GSM8K's '####', 'The answer is',
# '\boxed' and 'Final answer:', told apart by their first character. Written to start with a character class
# (and to check the word boundary behind it) so the regex engine skips ahead fast: 4x faster than `\banswer|...`.
_FINAL_MARKER_RE = re.compile(
    r"[#\\AaFf](?:(?<=#)###[ \t]*|(?<=\\)boxed|(?<=[Aa])(?<!\w.)(?i:nswer\s+is)\b\s*:?\s*"
    r"|(?<=[Ff])(?<!\w.)(?i:inal\s+answer)\s*[:：]\s*)"
)
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
# The look-behind keeps a search linear: without it a long run of digits is retried from every one of them.
_POWER_RE = re.compile(
    rf"(?<![\d.])({_NUM})(?:[eE]([-+]?\d+)|\s*{_TIMES}\s*10\s*\^\s*\{{?([-+−]?\d+)\}}?|\s*\^\s*\{{?([-+−]?\d+)\}}?)"
)
_MATH_SPAN_RE = re.compile(r"^\s*(?:\$\$?([^$]{1,200})\$\$?|\\\((.{1,200}?)\\\)|\\\[(.{1,200}?)\\\])", re.DOTALL)
_LATEX_COMMAND_RE = re.compile(r"\\[a-zA-Z]+|\^")
_SENTENCE_END_RE = re.compile(r"\.(?=\s|$)")  # a full stop, not a decimal point
# Characters that carry no value but break matching: zero-width spaces and joiners, the byte-order mark, and bidi
# controls (seen in copied web text). Removed before any rule looks at the text.
_INVISIBLE_RE = re.compile("[\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
# Any Unicode space between digit groups is a thousands separator ('12 000', SI style: no-break, narrow no-break,
# thin, figure, ideographic ...); anywhere else it is a space.
_ODD_SPACES = "\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000"
_GROUP_SPACE_RE = re.compile(f"(?<=\\d)[{_ODD_SPACES}](?=\\d{{3}}(?!\\d))")
_ODD_SPACE_RE = re.compile(f"[{_ODD_SPACES}]")
# Other ways of writing digits and their punctuation, made ASCII: full-width forms, the Arabic decimal and
# thousands separators, fraction and division slashes, dashes used as a minus. (Digits of other scripts are
# Unicode decimals, which the rules read as they are.)
_DIGIT_FORMS = str.maketrans(
    {chr(0xFF10 + d): str(d) for d in range(10)}
    | {"，": ",", "．": ".", "／": "/", "％": "%", "＋": "+", "－": "-", "＄": "$", "٫": ".", "٬": ",", "٪": "%"}
    | {"\u2044": "/", "\u2215": "/", "\u2012": "-", "\ufe63": "-"}
)
_VULGAR = {
    "½": "1/2", "⅓": "1/3", "⅔": "2/3", "¼": "1/4", "¾": "3/4", "⅕": "1/5", "⅖": "2/5", "⅗": "3/5", "⅘": "4/5",
    "⅙": "1/6", "⅚": "5/6", "⅐": "1/7", "⅛": "1/8", "⅜": "3/8", "⅝": "5/8", "⅞": "7/8", "⅑": "1/9", "⅒": "1/10",
}  # fmt: skip
_VULGAR_RE = re.compile(f"(?:(\\d)\\s?)?([{''.join(_VULGAR)}])")  # '1½' is the mixed number 1 1/2
_SUPERSCRIPTS = "⁰¹²³⁴⁵⁶⁷⁸⁹"
_SUPERSCRIPT_DIGITS = str.maketrans({c: str(d) for d, c in enumerate(_SUPERSCRIPTS)} | {"⁻": "-", "⁺": "+"})
# A superscript right after a digit is a power ('10³'); after a letter it is a unit ('m²') and stays.
_SUPERSCRIPT_RE = re.compile(f"(?<=\\d)[⁻⁺]?[{_SUPERSCRIPTS}]+")
_PERCENT_QUESTION_RE = re.compile(r"\bpercent(?:age)?s?\b|\b(?:what|which|how\s+many)\s*%", re.IGNORECASE)


# ---------------------------------------------------------------- numbers


def _vulgar_fraction(m: re.Match[str]) -> str:
    whole, fraction = m.group(1), _VULGAR[m.group(2)]
    return f"{whole} {fraction}" if whole else fraction


def clean_unicode(text: str) -> str:
    """Text with invisible characters removed, Unicode spaces made plain, other digit forms made ASCII: digit
    groups split by a Unicode space become comma-grouped, '1½' becomes '1 1/2', '10³' becomes '10^3'.

    >>> clean_unicode("12\u202f000 apples\u200b"), clean_unicode("a\u00a0b"), clean_unicode("２½ m²")
    ('12,000 apples', 'a b', '2 1/2 m²')
    """
    text = _INVISIBLE_RE.sub("", text)
    if text.isascii():
        return text
    text = text.translate(_DIGIT_FORMS)
    text = _VULGAR_RE.sub(_vulgar_fraction, text)
    text = _SUPERSCRIPT_RE.sub(lambda m: "^" + m.group(0).translate(_SUPERSCRIPT_DIGITS), text)
    return _ODD_SPACE_RE.sub(" ", _GROUP_SPACE_RE.sub(",", text))


_LATEX_CHARS_RE = re.compile(r"[$\\{}~°^]")  # text without any of these has no LaTeX to strip


def _strip_latex(text: str) -> str:
    if not _LATEX_CHARS_RE.search(text):
        return text.strip()
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


def _power_parts(m: re.Match[str]) -> tuple[Fraction, int, bool]:
    """(base, exponent, whether the base is 10) of a _POWER_RE match: '2.5e3' -> (2.5, 3, True)."""
    exponent = next(g for g in m.groups()[1:] if g is not None).replace("−", "-")
    return Fraction(m.group(1).replace(",", "")), int(exponent), m.group(4) is None


def _power_to_fraction(m: re.Match[str]) -> Fraction | None:
    """The exact value of '2.5e3', '2.5 x 10^3' or '2^5'; None beyond 10^±MAX_EXPONENT, for a value whose
    canonical text would be longer than MAX_NUMBER_CHARS, and for 0 to a power of at most 0."""
    base, exponent, of_ten = _power_parts(m)
    if abs(exponent) > MAX_EXPONENT or (not of_ten and base == 0 and exponent <= 0):
        return None
    value = base * Fraction(10) ** exponent if of_ten else base**exponent
    return value if len(format_number(value)) <= MAX_NUMBER_CHARS else None


def _plain_to_fraction(text: str) -> Fraction | None:
    """A sign-less number: '1,234.5', '.5', '3/4', '1 1/2', '2.5e3'; None for anything else."""
    if m := _PLAIN_RE.fullmatch(text):
        digits = m.group(0).replace(",", "")
        return Fraction(int(digits)) if digits.isdigit() else Fraction(digits)  # int(): the common case, faster
    if m := _POWER_RE.fullmatch(text):
        return _power_to_fraction(m)
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
    if scale != 1:
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

_SEGMENT_CHARS = 4 * MAX_NUMBER_CHARS  # how far after a marker its answer is looked for
_MAX_MARKERS = 64  # markers looked at in one text (bounds the work on 'answer is answer is ...')
# What, right after a number, makes it part of something that is not one number: an operator and another number
# ('5 + 3', '12 - 4'), a range or alternatives ('5 to 7', '12 or 13', '12 or so'), '2·5' (a decimal point or a
# product), digit groups split by a plain space ('12 000'), and dozens ('5 dozen': a count of dozens, or 60).
_NOT_ONE_NUMBER_RE = re.compile(
    rf"\s*(?:[-+−–×x*/÷·^]|\\times|\\cdot|to\b|and\b|plus\b|minus\b|times\b)\s*[{_CURRENCY_SYMBOLS}]?\d"
    r"|\s*,?\s*or\b|[ \t]\d{3}(?![\d/])|\s*dozens?\b",
    re.IGNORECASE,
)
# The same before the last number of a text without markers ('... 12 or 13', '... 5 + 3').
_NOT_ONE_NUMBER_BEFORE_RE = re.compile(r"\d\s*(?:,?\s*(?:or|to|and)\b|[+×x*/÷·^])\s*[$€£¥₹]?$", re.IGNORECASE)
_SIGNED_RE = re.compile(rf"[{_MINUS_SIGNS}+]")
_DIGIT_BEFORE_RE = re.compile(r"\d\s*$")
_AND_A_FRACTION_RE = re.compile(r"\s+and\s+(?:a|an|one)\s+([a-z]+)\b", re.IGNORECASE)  # '2 and a half'


class FinalAnswer(NamedTuple):
    """What a text gives as its final answer: `answer` (canonical, or LaTeX for math-verify) or None; `refusal`
    says why an answer that was found is not read ('1e400', '12 or 13'); `later` is a different answer given by
    a later final-answer line (the first one counts)."""

    answer: str | None
    refusal: str | None = None
    later: str | None = None


_NO_ANSWER = FinalAnswer(None)


def _unread_reason(token: str) -> str:
    """Why the rules do not read a number-shaped token (a very long one shown by its ends: the reason is stored
    with the verdict)."""
    shown = token if len(token) <= 40 else f"{token[:24]}...{token[-8:]} ({len(token)} characters)"
    if m := _POWER_RE.search(_strip_latex(token)):
        base, exponent, of_ten = _power_parts(m)
        if of_ten or base != 0 or exponent > 0:
            return f"'{shown}': a power beyond 10^±{MAX_EXPONENT} is not read as an answer"
    return f"'{shown}' is not a number the rules read"


def _read_token(text: str, m: re.Match[str]) -> FinalAnswer:
    """The number matched by _TOKEN_RE at `m`, unless what follows makes it part of something else."""
    token, after = m.group(0), text[m.end() : m.end() + 40]
    if cont := _NOT_ONE_NUMBER_RE.match(after):
        return FinalAnswer(None, f"'{token}{cont.group(0)}...' is not one number")
    number = normalize_number(token)
    if number is None:
        return FinalAnswer(None, _unread_reason(token))
    if (half := _AND_A_FRACTION_RE.match(after)) and (part := number_words.SINGULAR.get(half.group(1).lower())):
        if "/" in number or "." in number:
            return FinalAnswer(None, f"'{token}{half.group(0)}' is not one number")
        return FinalAnswer(format_number(Fraction(number) + Fraction(1, part)))
    return FinalAnswer(number)


def _read_segment(segment: str) -> FinalAnswer | None:
    """The answer right after 'The answer is' or 'Final answer:': a LaTeX span if the segment opens with one;
    else the number after the last '=' of its first sentence ('The answer is 5 + 3 = 8.' is 8); else number words
    it starts with ('twelve'); else its first number. None when it holds none (the next marker is looked at)."""
    if m := _MATH_SPAN_RE.match(segment):
        span = next(g for g in m.groups() if g is not None).strip()
        if (number := normalize_number(span)) is not None:
            return FinalAnswer(number)
        if _is_math_expression(span):
            return FinalAnswer(span)
    sentence = _SENTENCE_END_RE.split(segment, maxsplit=1)[0]
    if "=" in sentence:
        after_equals = sentence.rpartition("=")[2]
        if m := _TOKEN_RE.search(after_equals):
            return _read_token(after_equals, m)
    start = segment.lstrip(" \t*_")
    if start[:1].isalpha() and (words := number_words.read_number_words(start)) is not None:
        if words.value is None:
            return FinalAnswer(None, words.refusal)
        return FinalAnswer(format_number(words.value, words.percent))
    if m := _TOKEN_RE.search(segment):
        return _read_token(segment, m)
    if start[:1].isnumeric():  # '⑫', 'Ⅻ': a digit form the rules do not read
        return FinalAnswer(None, f"'{start[:8].strip()}' is written in a digit form the rules do not read")
    return None


def _boxed_content(text: str, start: int) -> str | None:
    open_brace = text.find("{", start, start + len("\\boxed") + 2)
    if open_brace < 0:
        return None
    depth = 0
    for i in range(open_brace, min(len(text), open_brace + MAX_NUMBER_CHARS)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[open_brace + 1 : i].strip()
    return None


def _is_math_expression(text: str) -> bool:
    return bool(_LATEX_COMMAND_RE.search(text)) and len(text) <= MAX_NUMBER_CHARS


def _line_after(text: str, end: int, limit: int) -> str:
    line_end = text.find("\n", end, end + limit)
    return text[end : line_end if line_end >= 0 else end + limit]


def _marker_answer(text: str, m: re.Match[str]) -> FinalAnswer | None:
    """The answer a marker gives ('####', '\\boxed', or one followed by its answer: 'The answer is', 'Final
    answer:', 'Answer:'); None when it gives none (a header '#### Step 1', an empty box, 'The answer is below')."""
    kind = m.group(0)[0]
    if kind == "#":  # the whole rest of the line must be the number: a markdown header '#### Step 1' is not one
        line = _line_after(text, m.end(), _SEGMENT_CHARS).strip()
        if (number := normalize_number(line)) is not None:
            return FinalAnswer(number)
        token = _TOKEN_RE.match(line)
        if token and (token.end() == len(line.rstrip(".")) or _NOT_ONE_NUMBER_RE.match(line, token.end())):
            return _read_token(line, token)  # a number the rules refuse ('#### 1e400', '#### 5 or 6')
        return None
    if kind == "\\":
        boxed = _boxed_content(text, m.start())
        if not boxed or len(boxed) > MAX_NUMBER_CHARS:
            return None
        if (number := normalize_number(boxed)) is not None:
            return FinalAnswer(number)
        if (token := _TOKEN_RE.fullmatch(boxed)) is not None:
            return FinalAnswer(None, _unread_reason(token.group(0)))
        return FinalAnswer(boxed)  # LaTeX our rules cannot read: math-verify's
    return _read_segment(_line_after(text, m.end(), _SEGMENT_CHARS))


def _first_marked_answer(pattern: re.Pattern[str], text: str) -> FinalAnswer | None:
    """The answer of the first marker of `pattern` that gives one, with the first later one that differs."""
    first = None
    for seen, m in enumerate(pattern.finditer(text)):
        if seen >= _MAX_MARKERS:
            break
        found = _marker_answer(text, m)
        if found is None:
            continue
        if first is None:
            first = found
        elif found.answer is not None and found.answer != first.answer:
            return first._replace(later=found.answer)
    return first


def read_final_answer(text: str, max_chars: int = 20000) -> FinalAnswer:
    """The final answer of a solution and, when there is none, why (see FinalAnswer).

    The first final-answer line decides: '#### x', 'The answer is x', '\\\\boxed{x}' or 'Final answer: x',
    whichever comes first; then, without any of them, the first 'Answer: x' / 'A: x' line; then the last number.
    Text after the first final-answer line never changes the answer (a student that goes on to 'Another problem:
    ... The answer is 5.' has answered already); a later line with a different answer is kept in `later`.
    A text longer than `max_chars` is read at its first and its last `max_chars` characters, in that order.

    >>> read_final_answer("The answer is 7.\\nNext problem: Sam has 5. The answer is 5.")
    FinalAnswer(answer='7', refusal=None, later='5')
    >>> read_final_answer("The answer is 12 or 13.").refusal
    "'12 or...' is not one number"
    """
    if not text or max_chars <= 0:
        return _NO_ANSWER
    if len(text) <= max_chars:
        windows = [clean_unicode(text)]
    else:  # the regexes see at most 2 * max_chars characters
        windows = [clean_unicode(text[:max_chars]), clean_unicode(text[-max_chars:])]
    for pattern in (_FINAL_MARKER_RE, _ANSWER_COLON_RE):
        for window in windows:
            if (found := _first_marked_answer(pattern, window)) is not None:
                return found
    text, last = windows[-1], None
    for m in _TOKEN_RE.finditer(text):
        last = m
    if last is None:
        return _NO_ANSWER
    before = text[max(0, last.start() - 40) : last.start()]
    operator = _SIGNED_RE.match(last.group(0)) and _DIGIT_BEFORE_RE.search(before)  # '5 + 3': a sum, not +3
    if operator or _NOT_ONE_NUMBER_BEFORE_RE.search(before):
        return FinalAnswer(None, f"'...{before[-12:].lstrip()}{last.group(0)}' is not one number")
    return _read_token(text, last)


def extract_final_answer(text: str, max_chars: int = 20000) -> str | None:
    """The final answer of a solution, normalized; None when there is none or it is not read (read_final_answer
    says why). A boxed expression that is not a number comes back as its LaTeX.

    >>> extract_final_answer("48/2 = <<48/2=24>>24 clips.\\n#### 1,200")
    '1200'
    >>> extract_final_answer("So x = \\\\boxed{\\\\frac{1}{2}}."), extract_final_answer("no digits here")
    ('0.5', None)
    """
    return read_final_answer(text, max_chars).answer


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
