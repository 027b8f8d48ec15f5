"""Domain threat lists: normalisation and label-boundary suffix matching.

A listed ``evil.com`` matches ``evil.com`` and every name under it (``a.b.evil.com``), and
nothing else: not ``notevil.com`` (the boundary must be a dot) and not
``evil.com.attacker.net`` (only suffixes count). Matching is case-insensitive and ignores the
trailing dot of a fully qualified name, as DNS does.

A lookup costs one dict probe per suffix of the query that has at least two labels (the
shortest listed name has two: single labels such as ``com`` are refused when loading), so
``a.b.evil.com`` costs three probes whatever the size of the list.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

# One label: letters, digits, hyphens inside, underscores tolerated (service labels such as
# _dmarc appear in real feeds); 1-63 characters.
_LABEL = r"(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)"
# The top-level label must hold a letter: this keeps dotted numbers such as 300.1.1.1 or
# 182.86.133 (a truncated IP) from passing as domains.
_DOMAIN_RE = re.compile(rf"^(?:{_LABEL}\.)+(?=[a-z0-9-]*[a-z])[a-z0-9-]{{2,63}}$")


def normalise_domain(name: str) -> str | None:
    """The canonical (lower-case, no trailing dot, punycode) form of a listable domain name, or
    None when `name` is not one. Wildcards ``*.evil.com`` and a leading dot ``.evil.com`` mean
    "evil.com and below", which is what every entry means here, so they are dropped."""
    if not name:
        return None
    name = name.strip().rstrip(".").lower()
    if name.startswith("*."):
        name = name[2:]
    elif name.startswith("."):
        name = name[1:]
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    if len(name) > 253 or not _DOMAIN_RE.match(name):
        return None
    return name


class DomainMatcher(Generic[T]):
    """Domain -> tags, matched on label boundaries.

    ``add("evil.com", tag)`` lists a domain (returns False when the name is not a valid domain);
    ``lookup(name)`` returns the tags of every listed domain that `name` is or is under, the most
    specific first, each tag once; ``match(name)`` returns the most specific listed domain.
    """

    __slots__ = ("_table", "_min_labels")

    def __init__(self) -> None:
        self._table: dict[str, tuple[T, ...]] = {}
        self._min_labels = 2

    def add(self, domain: str, tag: T) -> bool:
        key = normalise_domain(domain)
        if key is None:
            return False
        tags = self._table.get(key, ())
        if tag not in tags:
            self._table[key] = tags + (tag,)
        return True

    def _suffixes(self, name: str) -> Iterator[str]:
        if name[-1:] == ".":
            name = name[:-1]
        name = name.lower()
        yield name
        i = name.find(".")
        # stop before the last label: listed names have at least two labels
        while i >= 0:
            rest = name[i + 1 :]
            if "." not in rest:
                return
            yield rest
            i = name.find(".", i + 1)

    def lookup(self, name: str | None) -> tuple[T, ...]:
        if not name:
            return ()
        table = self._table
        if name[-1] == ".":
            name = name[:-1]
        if not name.islower():
            name = name.lower()
        found = table.get(name)
        i = name.find(".")
        while i >= 0:
            j = name.find(".", i + 1)
            if j < 0:
                break  # what is left is the top-level label alone
            more = table.get(name[i + 1 :])
            if more is not None:
                if found is None:
                    found = more
                else:
                    found = found + tuple(t for t in more if t not in found)
            i = j
        return found or ()

    def match(self, name: str | None) -> str | None:
        """The most specific listed domain that `name` is or is under."""
        if not name:
            return None
        for suffix in self._suffixes(name):
            if suffix in self._table:
                return suffix
        return None

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and bool(self.lookup(name))

    def __len__(self) -> int:
        return len(self._table)

    def __iter__(self) -> Iterator[str]:
        return iter(self._table)

    def items(self) -> Iterable[tuple[str, tuple[T, ...]]]:
        return self._table.items()
