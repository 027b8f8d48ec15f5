"""Untrusted text made safe to print.

Log fields and file names are written by whoever wrote the logs: an escape sequence in a user agent
or a bucket name would otherwise retitle, clear or rewrite the terminal of the person reading a
scan's output, and a bidi override would make a line read as something it is not. Every line printed
from such content goes through here, and shows control characters as visible escapes instead.
"""

from __future__ import annotations

from collections.abc import Callable


def printable(text: str) -> str:
    """``text`` with what str.isprintable() refuses (C0/C1 controls, ESC, DEL, bidi and other format
    characters, line separators, non-space blanks, lone surrogates of undecodable file names) shown
    as repr() shows it: \\x1b, \\u202e, \\udcff."""
    return _escaped(text, lambda c: repr(c)[1:-1])


def printable_json(line: str) -> str:
    """A JSON text with the same characters written as JSON \\u escapes: the same value, safe on a terminal."""
    return _escaped(line, _json_escape)


def _escaped(text: str, escape: Callable[[str], str]) -> str:
    if text.isprintable():  # the usual case, in one C call
        return text
    return "".join(c if c.isprintable() else escape(c) for c in text)


def _json_escape(c: str) -> str:
    code = ord(c)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000  # outside the BMP: a surrogate pair, as JSON spells it
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
