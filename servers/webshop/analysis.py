"""A clone of Anserini's default English analyzer, the one upstream WebShop's Lucene index uses.

Pipeline, applied to documents and queries alike:

1. word segmentation approximating Lucene's ``StandardTokenizer`` (Unicode UAX#29 word breaks):
   letters stay joined across ``:``, ``.``, ``'`` and ``’`` between letters, digits across ``.``,
   ``,``, ``;`` and ``⁄`` between digits, letters and digits join directly, ``_`` joins anything;
   each CJK ideograph and hiragana character is a token of its own; emoji and pictographs (``★``,
   ``❤️``, ZWJ sequences) are tokens; tokens longer than 255 characters are split;
2. English possessive filter (a trailing ``'s``/``’s`` is removed);
3. lower-casing;
4. Lucene's 33-word English stop list;
5. the Porter stemmer in Lucene's variant (:mod:`servers.webshop.porter`).

On the real catalogue this gives Lucene's exact token stream for every benchmark query and for all
but a handful of documents (CJK runs, ZWJ emoji sequences); ``tests/servers/test_analysis.py``
measures it.
"""

from __future__ import annotations

import re

from .porter import stem

__all__ = ["STOP_WORDS", "analyze", "tokenize"]

STOP_WORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their then there "
    "these they this to was will with".split()
)

MAX_TOKEN_LENGTH = 255

_LETTER = r"[^\W\d_]"
# separators allowed between two letters (UAX#29 MidLetter, MidNumLet, Single_Quote)
_MID_LETTER = r"[:.'\u00b7\u0387\u05f4\u2018\u2019\u2024\u2027\ufe13\ufe52\ufe55\uff07\uff0e\uff1a]"
# separators allowed between two digits (MidNum, MidNumLet, Single_Quote)
_MID_NUM = (
    r"[.,;'\u037e\u0589\u060c\u060d\u066c\u07f8\u2018\u2019\u2024\u2044\ufe10\ufe14\ufe50\ufe52\ufe54"
    r"\uff07\uff0c\uff0e\uff1b]"
)
_ALNUM_RUN = r"[^\W_]+"
_WORD = (
    rf"_*{_ALNUM_RUN}(?:(?:_+|(?<={_LETTER}){_MID_LETTER}(?={_LETTER})|(?<=\d){_MID_NUM}(?=\d))"
    rf"{_ALNUM_RUN})*_*"
)

# Extended_Pictographic, approximated by its Unicode 15 ranges.
_PICTO = (
    "\u00a9\u00ae\u203c\u2049\u2122\u2139\u2194-\u2199\u21a9\u21aa\u231a\u231b\u2328\u2388\u23cf"
    "\u23e9-\u23f3\u23f8-\u23fa\u24c2\u25aa\u25ab\u25b6\u25c0\u25fb-\u25fe\u2600-\u2605\u2607-\u2612"
    "\u2614-\u2685\u2690-\u2705\u2708-\u2712\u2714\u2716\u271d\u2721\u2728\u2733\u2734\u2744\u2747"
    "\u274c\u274e\u2753-\u2755\u2757\u2763-\u2767\u2795-\u2797\u27a1\u27b0\u27bf\u2934\u2935"
    "\u2b05-\u2b07\u2b1b\u2b1c\u2b50\u2b55\u3030\u303d\u3297\u3299"
    "\U0001f000-\U0001f0ff\U0001f10d-\U0001f10f\U0001f12f\U0001f16c-\U0001f171\U0001f17e\U0001f17f"
    "\U0001f18e\U0001f191-\U0001f19a\U0001f1ad-\U0001f1e5\U0001f201-\U0001f20f\U0001f21a\U0001f22f"
    "\U0001f232-\U0001f23a\U0001f23c-\U0001f23f\U0001f249-\U0001f3fa\U0001f400-\U0001f53d"
    "\U0001f546-\U0001f64f\U0001f680-\U0001f6ff\U0001f774-\U0001f77f\U0001f7d5-\U0001f7ff"
    "\U0001f80c-\U0001f80f\U0001f848-\U0001f84f\U0001f85a-\U0001f85f\U0001f888-\U0001f88f"
    "\U0001f8ae-\U0001f8ff\U0001f90c-\U0001f93a\U0001f93c-\U0001f945\U0001f947-\U0001faff"
    "\U0001fc00-\U0001fffd"
)
_EMOJI_EXTEND = "\ufe0e\ufe0f\u20e3\U0001f3fb-\U0001f3ff\u0300-\u036f"
_EMOJI = rf"[{_PICTO}][{_EMOJI_EXTEND}]*(?:\u200d[{_PICTO}][{_EMOJI_EXTEND}]*)*"
_REGIONAL_PAIR = r"[\U0001f1e6-\U0001f1ff]{2}"

# Characters UAX#29 never joins into words: ideographs and hiragana (one token each).
_SINGLE = (
    r"[\u3005\u3007\u3021-\u3029\u3038-\u303b\u3040-\u309f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
    r"\U00020000-\U0002fa1f]"
)
_KATAKANA_RUN = r"[\u30a0-\u30ff\u31f0-\u31ff\uff66-\uff9d]+"

_TOKEN_RE = re.compile(rf"{_SINGLE}|{_KATAKANA_RUN}|{_EMOJI}|{_REGIONAL_PAIR}|{_WORD}")
# fast path for plain ASCII text: the same rules restricted to ASCII
_ASCII_TOKEN_RE = re.compile(
    r"_*[A-Za-z0-9]+(?:(?:_+|(?<=[A-Za-z])[:.'](?=[A-Za-z])|(?<=[0-9])[.,;'](?=[0-9]))[A-Za-z0-9]+)*_*"
)
_CJK_RE = re.compile(rf"{_SINGLE}|{_KATAKANA_RUN}")
_POSSESSIVE_QUOTES = ("'", "\u2019", "\uff07")
# characters Python counts as word characters but UAX#29 does not (other numbers such as ½, ², ❶, and
# half-width sound marks): blanked before segmentation
_NOT_WORD_RE = re.compile(
    "[\u00b2\u00b3\u00b9\u00bc-\u00be\u09f4-\u09f9\u2070-\u2079\u2080-\u2089\u2150-\u215f\u2189"
    "\u2460-\u249b\u24ea-\u24ff\u2776-\u2793\u3192-\u3195\u3220-\u3229\u3248-\u324f\u3251-\u325f"
    "\u3280-\u3289\u32b1-\u32bf\uff9e\uff9f]"
)


def tokenize(text: str) -> list[str]:
    """Split ``text`` into StandardTokenizer tokens (original case, before any filter)."""
    if text.isascii():
        tokens = _ASCII_TOKEN_RE.findall(text)
    else:
        tokens = []
        text = _NOT_WORD_RE.sub(" ", text)
        for match in _TOKEN_RE.finditer(text):
            tok = match.group()
            # a word run may have swallowed ideographs (they are letters to ``re``): cut them out
            if len(tok) > 1 and _CJK_RE.search(tok) and not _CJK_RE.fullmatch(tok):
                tokens.extend(_split_cjk(tok))
            else:
                tokens.append(tok)
    if any(len(t) > MAX_TOKEN_LENGTH for t in tokens):
        tokens = [t[i : i + MAX_TOKEN_LENGTH] for t in tokens for i in range(0, len(t), MAX_TOKEN_LENGTH)]
    return tokens


def _split_cjk(token: str) -> list[str]:
    out: list[str] = []
    pos = 0
    for m in _CJK_RE.finditer(token):
        if m.start() > pos:
            out.extend(_TOKEN_RE.findall(token[pos : m.start()]))
        out.append(m.group())
        pos = m.end()
    if pos < len(token):
        out.extend(_TOKEN_RE.findall(token[pos:]))
    return out


def analyze(text: str) -> list[str]:
    """Analyzed terms of ``text``, in order (duplicates kept): what Lucene indexes and searches."""
    out = []
    for tok in tokenize(text):
        if len(tok) >= 2 and tok[-1] in "sS" and tok[-2] in _POSSESSIVE_QUOTES:
            tok = tok[:-2]
        tok = tok.lower()
        if not tok or tok in STOP_WORDS:
            continue
        out.append(stem(tok))
    return out
