"""Key-terms grading: a faithful port of src/core/eval/match.ts (the TS side is the source of truth).

    grade(answer, reference, question="", keys=None) -> bool

is the "contains" verdict of the core's matcherVerdict: every key term of the reference appears in
the answer (see match.ts for the rule). The golden table test/fixtures/grading-cases.json, made by
the TS code (test/unit/eval-grading.test.ts), is checked here by src/python/tests/test_grading.py,
so the two sides cannot drift apart.

Faithfulness notes (JavaScript semantics kept on purpose):
- `\\d`, `\\b` and case-insensitive matching are ASCII-only, as in JS regular expressions without
  the `u` flag; `\\s` and `trim()` use JavaScript's white-space set, not Python's.
- `\\p{L}`, `\\p{N}`, `\\p{Lu}` are Unicode general categories (unicodedata).
- String lengths are counted in UTF-16 code units, as `String.prototype.length` does.
- Numbers written from digits ("12th") go through a JS Number, as `parseInt` does.
"""

from __future__ import annotations

import math
import re
import unicodedata

UNITS = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
    "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen",
]
TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
# "second" is left out: it is a unit of time more often than an ordinal.
ORDINALS = {
    "first": 1, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8, "ninth": 9,
    "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13, "fourteenth": 14, "fifteenth": 15,
    "twentieth": 20,
}
NUMBER_WORDS: dict[str, int] = {w: i for i, w in enumerate(UNITS)}
NUMBER_WORDS.update({w: i * 10 for i, w in enumerate(TENS) if w})

FUNCTION_WORDS = frozenset(
    (
        "a an the and or but nor if then than that this these those there their they them it its is are was were be been being "
        "has have had do does did done to of in on at by for from with without within into onto over under after before "
        "up down out off only just also not no yes each every both either neither all any some none one ones other another "
        "such same own so too very can could may might must shall should will would what which who whom whose when where why how "
        "he she his her we our you your i me my as about above below between during through while until again more most less "
        "least many much few several per via here once always never often"
    ).split(" ")
)

# JavaScript's \s (WhiteSpace and LineTerminator): what `\s` and `trim()` mean on the TS side.
_JS_WS = "\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_WS_RUN = re.compile(f"[{_JS_WS}]+")
_A = re.ASCII

CITATION = re.compile(
    rf"\([{_JS_WS}]*(?:see[{_JS_WS}]+)?(?:rules?|§+|sections?|articles?)[{_JS_WS}]*[0-9.,;{_JS_WS}&and-]*\)",
    re.IGNORECASE | _A,
)
_THOUSANDS = re.compile(r"(\d),(\d{3})\b", _A)
_LONE_DOT = re.compile(r"(?<!\d)\.|\.(?!\d)", _A)
_ORDINAL_DIGITS = re.compile(r"^(\d+)(st|nd|rd|th)$", _A)
_YES_NO = re.compile(rf"^[{_JS_WS}]*(yes|no)\b", re.IGNORECASE | _A)
_TRAILING_PUNCT = re.compile(r"[.'’-]+\Z")
_DIGIT = re.compile(r"\d", _A)


def _js_trim(text: str) -> str:
    return text.strip(_JS_WS.replace("\u2000-\u200a", "".join(chr(c) for c in range(0x2000, 0x200B))))


def _utf16_len(text: str) -> int:
    return sum(2 if ord(c) > 0xFFFF else 1 for c in text)


def _is_letter_or_number(c: str) -> bool:
    return unicodedata.category(c)[0] in "LN"


def _js_number(digits: str) -> str:
    """`String(parseInt(digits, 10))` for a string of ASCII digits."""
    value = float(int(digits))
    if math.isinf(value):
        return "Infinity"
    if value < 1e21:
        return str(int(value))
    mantissa, exponent = repr(value).split("e")
    return f"{mantissa.rstrip('0').rstrip('.') if '.' in mantissa else mantissa}e+{int(exponent)}"


def strip_citations(text: str) -> str:
    return _js_trim(_WS_RUN.sub(" ", CITATION.sub(" ", text)))


def _letters_numbers_dot(text: str) -> str:
    """`text.replace(/[^\\p{L}\\p{N}.'’]+/gu, ' ')`."""
    out: list[str] = []
    in_run = False
    for c in text:
        if c in ".'’" or _is_letter_or_number(c):
            out.append(c)
            in_run = False
        elif not in_run:
            out.append(" ")
            in_run = True
    return "".join(out)


def _un_apostrophe(word: str) -> str:
    """A word without its possessive ("arbiter's" -> arbiter) and other apostrophes ("don't" -> dont)."""
    w = word[:-2] if word.endswith("'s") or word.endswith("’s") else word
    return w.replace("'", "").replace("’", "")


def normalize_tokens(text: str) -> list[str]:
    plain = unicodedata.normalize("NFKD", text)
    plain = re.sub("[\u0300-\u036f]", "", plain).lower()
    plain = _THOUSANDS.sub(r"\1\2", plain)
    plain = _LONE_DOT.sub(" ", plain)
    plain = _js_trim(_letters_numbers_dot(plain))
    if not plain:
        return []
    out: list[str] = []
    words = [w for w in (_un_apostrophe(w) for w in _WS_RUN.split(plain)) if w]
    i = 0
    while i < len(words):
        w = words[i]
        ord_ = ORDINALS.get(w)
        if ord_ is not None:
            out.append(f"{ord_}th")
            i += 1
            continue
        n = NUMBER_WORDS.get(w)
        if n is None:
            m = _ORDINAL_DIGITS.match(w)
            out.append(f"{_js_number(m.group(1))}th" if m else w)
            i += 1
            continue
        value = n
        nxt = words[i + 1] if i + 1 < len(words) else None
        if n >= 20 and n % 10 == 0 and nxt is not None:
            unit = NUMBER_WORDS.get(nxt)
            if unit is not None and 0 < unit < 10:
                value += unit
                i += 1
            elif ORDINALS.get(nxt, 10) < 10:
                out.append(f"{value + ORDINALS[nxt]}th")
                i += 2
                continue
        if i + 1 < len(words) and words[i + 1] == "hundred":
            value *= 100
            i += 1
        out.append(str(value))
        i += 1
    return out


def normalize_text(text: str) -> str:
    return " ".join(normalize_tokens(text))


_ES_AFTER = re.compile(r"(?:ss|x|z|ch|sh)es\Z")
_S_KEPT = re.compile(r"(?:ss|us|is)\Z")
_DOUBLE = re.compile(r"([b-df-hj-km-np-rtv-y])\1\Z")


def stem(word: str) -> str:
    """match.ts stem: plurals, -ing, -ed, a final e; numbers unchanged."""
    if word[:1].isascii() and word[:1].isdigit():
        return word
    w = word
    if _utf16_len(w) > 4 and w.endswith("ies"):
        w = w[:-3] + "y"
    elif w.endswith("sses"):
        w = w[:-2]
    elif _utf16_len(w) > 4 and _ES_AFTER.search(w):
        w = w[:-2]
    elif _utf16_len(w) > 3 and w.endswith("s") and not _S_KEPT.search(w):
        w = w[:-1]
    cut = False
    if _utf16_len(w) > 5 and w.endswith("ing"):
        w = w[:-3]
        cut = True
    elif _utf16_len(w) > 4 and w.endswith("ied"):
        w = w[:-3] + "y"
    elif _utf16_len(w) > 4 and w.endswith("ed") and not w.endswith("eed"):
        w = w[:-2]
        cut = True
    if cut and _DOUBLE.search(w):
        w = w[:-1]
    if _utf16_len(w) > 3 and w.endswith("e"):
        w = w[:-1]
    return w


def _raw_words(text: str):
    """`text.matchAll(/[\\p{L}\\p{N}][\\p{L}\\p{N}.'’-]*/gu)`."""
    i, n = 0, len(text)
    while i < n:
        if _is_letter_or_number(text[i]):
            j = i + 1
            while j < n and (_is_letter_or_number(text[j]) or text[j] in ".'’-"):
                j += 1
            yield text[i:j]
            i = j
        else:
            i += 1


def key_facts(keys: list[str]) -> list[list[list[str]]]:
    """match.ts keyFacts: each fact a list of alternatives ("/"-separated), each the words that must all appear."""
    facts: list[list[list[str]]] = []
    for fact in keys:
        alts: list[list[str]] = []
        for alt in fact.split("/"):
            tokens = normalize_tokens(strip_citations(alt))
            content = [t for t in tokens if t not in FUNCTION_WORDS]
            words = content or tokens
            if words:
                alts.append(words)
        if alts:
            facts.append(alts)
    return facts


def _fact_label(alts: list[list[str]]) -> str:
    return " / ".join(" ".join(a) for a in alts)


def key_terms(reference: str, question: str = "", keys: list[str] | None = None) -> list[str]:
    if keys:
        facts = key_facts(keys)
        if facts:
            return [_fact_label(f) for f in facts]
    return _guessed_terms(reference, question)[0]


def _is_unit(t: str) -> bool:
    return (
        bool(t)
        and all(unicodedata.category(c)[0] == "L" for c in t)
        and _utf16_len(t) >= 3
        and t not in FUNCTION_WORDS
        and t not in NUMBER_WORDS
        and t not in ORDINALS
    )


_ASIDE = re.compile(r"\([^()]*\)")
_WH_QUESTION = re.compile(r"\b(?:what|which|who|whom|whose|when|where|why|how)\b", re.IGNORECASE | re.ASCII)
_YES_NO_WS = re.compile(rf"^[{_JS_WS}]*(?:yes|no)[{_JS_WS}]+", re.IGNORECASE | re.ASCII)


def _yes_no_then_word(ref: str) -> bool:
    """`/^\\s*(?:yes|no)\\s+\\p{L}/iu.test(ref)`."""
    m = _YES_NO_WS.match(ref)
    return bool(m) and m.end() < len(ref) and unicodedata.category(ref[m.end()])[0] == "L"


def _guessed_terms(reference: str, question: str) -> tuple[list[str], list[str]]:
    """match.ts guessedTerms: the key terms and their kinds ("number", "yes-no", "word")."""
    full = strip_citations(reference)
    aside = _js_trim(_WS_RUN.sub(" ", _ASIDE.sub(" ", full)))
    ref = aside if normalize_tokens(aside) else full
    in_question = {stem(t) for t in normalize_tokens(question)}
    terms: list[str] = []
    kinds: list[str] = []
    stems: set[str] = set()

    def add(t: str, kind: str) -> None:
        s = stem(t) if t else ""
        if not t or s in in_question or s in stems:
            return
        stems.add(s)
        terms.append(t)
        kinds.append(kind)

    yes_no = _YES_NO.match(ref)
    if yes_no and not (_yes_no_then_word(ref) and _WH_QUESTION.search(question)):
        add(yes_no.group(1).lower(), "yes-no")
    floor = len(terms)
    raws = [_TRAILING_PUNCT.sub("", m) for m in _raw_words(ref)]
    for i, raw in enumerate(raws):
        lower = raw.lower()
        is_number = bool(_DIGIT.search(raw)) or (lower in NUMBER_WORDS and lower not in ("one", "zero")) or lower in ORDINALS
        if not is_number and lower in NUMBER_WORDS:
            continue
        is_capital = bool(raw) and unicodedata.category(raw[0]) == "Lu"
        if not is_number and not is_capital:
            continue
        tokens = normalize_tokens(raw)
        for t in tokens:
            if not is_number:
                if t not in FUNCTION_WORDS:
                    add(t, "word")
            elif _DIGIT.search(t):
                add(t, "number")
            elif _is_unit(t):
                add(t, "word")
        if is_number and any(_DIGIT.search(t) for t in tokens) and i + 1 < len(raws):
            nxt = normalize_tokens(raws[i + 1])
            if len(nxt) == 1 and _is_unit(nxt[0]):
                add(nxt[0], "word")
    if len(terms) > floor:
        return terms, kinds
    for t in normalize_tokens(ref):
        if _utf16_len(t) >= 4 and t not in FUNCTION_WORDS:
            add(t, "word")
    if len(terms) == floor:
        for t in normalize_tokens(ref):
            if t not in FUNCTION_WORDS:
                add(t, "word")
    return terms, kinds


def match_answer(answer: str, reference: str, question: str = "", keys: list[str] | None = None) -> dict:
    """match.ts matchAnswer: {"exact", "contains", "terms", "missing"} (and "keys": True when graded by keys)."""
    ans = normalize_tokens(answer)
    ref = normalize_tokens(strip_citations(reference))
    a = f" {' '.join(ans)} "
    exact = len(ref) > 0 and f" {' '.join(ref)} " in a
    have = {stem(t) for t in ans}
    facts = key_facts(keys) if keys else []
    if facts:
        missing_facts = [_fact_label(f) for f in facts if not any(all(stem(w) in have for w in words) for words in f)]
        return {"exact": exact, "contains": not missing_facts, "terms": [_fact_label(f) for f in facts], "missing": missing_facts, "keys": True}
    terms, kinds = _guessed_terms(reference, question)
    if not terms:
        return {"exact": exact, "contains": exact, "terms": terms, "missing": []}
    missing = [t for t in terms if stem(t) not in have]
    must_missing = sum(1 for t, k in zip(terms, kinds) if k != "word" and stem(t) not in have)
    words = sum(1 for k in kinds if k == "word")
    words_found = sum(1 for t, k in zip(terms, kinds) if k == "word" and stem(t) in have)
    two_thirds = -(-2 * words // 3)
    return {
        "exact": exact,
        "contains": must_missing == 0 and words_found >= two_thirds,
        "terms": terms,
        "missing": missing,
        "needed": len(terms) - words + two_thirds,
    }


def grade(answer: str, reference: str, question: str = "", keys: list[str] | None = None) -> bool:
    """The key-terms verdict of one answer (match.ts gradeAnswer): False for an empty answer or reference.

    `keys`: the pair's `@keys:` facts (the strings between the "|"s, each fact may hold "/"-separated
    alternatives), as recall.jsonl carries them; None or [] = the key terms guessed from the reference.
    """
    if not reference or not _js_trim(answer):
        return False
    return match_answer(answer, reference, question, keys)["contains"]
