"""Domain threat lists: normalisation and label-boundary suffix matching.

A listed ``evil.com`` matches ``evil.com`` and every name under it (``a.b.evil.com``), and
nothing else: not ``notevil.com`` (the boundary must be a dot) and not
``evil.com.attacker.net`` (only suffixes count). Matching is case-insensitive and ignores the
trailing dot of a fully qualified name, as DNS does.

A lookup probes the query's suffixes from the shortest (two labels: single labels such as
``com`` are refused when loading) outwards, and stops as soon as nothing listed lies below the
suffix — for most names after one dict probe, whatever the size of the list.
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

    The table maps every listed domain *and every suffix of one* (``b.evil.com`` listed puts
    ``evil.com`` in the table too, with no tags) to ``(tags, has_listed_names_below)``. A lookup
    walks the query's suffixes from the two-label one outwards and stops at the first suffix
    that nothing listed is under — for most names, after one probe.
    """

    __slots__ = ("_nodes", "_count")

    def __init__(self) -> None:
        self._nodes: dict[str, tuple[tuple[T, ...], bool]] = {}
        self._count = 0

    def add(self, domain: str, tag: T) -> bool:
        key = normalise_domain(domain)
        if key is None:
            return False
        self._add_canonical(key, tag)
        return True

    def _add_canonical(self, key: str, tag: T) -> None:
        """``add`` for a name already in ``normalise_domain`` form (lists parsed by intel.formats)."""
        nodes = self._nodes
        tags, below = nodes.get(key, ((), False))
        if not tags:
            self._count += 1
        if tag not in tags:
            nodes[key] = (tags + (tag,), below)
        # mark the parents (down to two labels) as having listed names below them
        i = key.find(".")
        while True:
            parent = key[i + 1 :]
            if "." not in parent:
                break
            ptags, pbelow = nodes.get(parent, ((), False))
            if pbelow:
                break  # its own parents are marked already
            nodes[parent] = (ptags, True)
            i = key.find(".", i + 1)

    def lookup(self, name: str | None) -> tuple[T, ...]:
        if not name:
            return ()
        if name[-1] == ".":
            name = name[:-1]
        if not name.islower():
            name = name.lower()
        get = self._nodes.get
        j = name.rfind(".")
        if j <= 0:
            return ()  # a single label is never listed
        i = name.rfind(".", 0, j)
        found: tuple[T, ...] = ()
        while True:
            node = get(name[i + 1 :] if i >= 0 else name)
            if node is None:
                return found
            tags, below = node
            if tags:
                # more specific names come later in the walk and go first
                found = tags + tuple(t for t in found if t not in tags) if found else tags
            if not below or i < 0:
                return found
            i = name.rfind(".", 0, i)

    def match(self, name: str | None) -> str | None:
        """The most specific listed domain that `name` is or is under."""
        if not name:
            return None
        name = name[:-1].lower() if name[-1:] == "." else name.lower()
        best = None
        labels = name.split(".")
        for k in range(len(labels) - 2, -1, -1):
            node = self._nodes.get(".".join(labels[k:]))
            if node is None:
                break
            if node[0]:
                best = ".".join(labels[k:])
            if not node[1]:
                break
        return best

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and bool(self.lookup(name))

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[str]:
        return (k for k, (tags, _) in self._nodes.items() if tags)

    def items(self) -> Iterable[tuple[str, tuple[T, ...]]]:
        return ((k, tags) for k, (tags, _) in self._nodes.items() if tags)
