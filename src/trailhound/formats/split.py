"""Find the top-level elements of a JSON array without decoding it.

The salvage path of a document that failed to decode as a whole: one bad record (invalid UTF-8, a
NUL byte, nesting deeper than any decoder allows, a truncated tail) must cost that record alone, so
the array is cut into its elements by bytes and each is decoded on its own. Each step is one regex
match that skips plain bytes and whole strings (escapes included) in C and stops at the next byte
that matters: a bracket, a brace, a comma at the array's own level, or a quote that never closes.
About 65 MB/s, a sixth of the typed decode; the happy path never comes here.
"""

from __future__ import annotations

import re

_STRING = rb'"[^"\\]*(?:\\[\s\S][^"\\]*)*"'
_TOP = re.compile(rb'[^"\[\]{},]*(?:' + _STRING + rb'[^"\[\]{},]*)*([\[\]{},"])')
_NESTED = re.compile(rb'[^"\[\]{}]*(?:' + _STRING + rb'[^"\[\]{}]*)*([\[\]{}"])')  # commas inside an element do not matter
_NON_SPACE = re.compile(rb"\S")
_OPEN, _CLOSE, _QUOTE = frozenset(b"[{"), frozenset(b"]}"), ord('"')


def split_array(data: bytes, start: int) -> tuple[list[tuple[int, int]], bool]:
    """The (begin, end) byte spans of the elements of the array whose ``[`` is at ``start``, and
    whether the array closes. When it does not (a cut file), the last span runs to the end of the
    data and may be incomplete. Spans may carry surrounding whitespace; empty ones are left out."""
    spans: list[tuple[int, int]] = []
    depth, begin, pos = 0, start + 1, start
    top, nested = _TOP.match, _NESTED.match
    while (m := (top if depth <= 1 else nested)(data, pos)) is not None:
        i = m.end() - 1
        c, pos = data[i], i + 1
        if c == _QUOTE:
            break  # a string that never closes: the data ends inside it
        if c in _OPEN:
            depth += 1
        elif c in _CLOSE:
            depth -= 1
            if depth <= 0:
                _add(spans, data, begin, i)
                return spans, True
        else:  # a comma between two elements
            _add(spans, data, begin, i)
            begin = pos
    _add(spans, data, begin, len(data))
    return spans, False


def _add(spans: list[tuple[int, int]], data: bytes, begin: int, end: int) -> None:
    if _NON_SPACE.search(data, begin, end):
        spans.append((begin, end))
