"""Suppression rules: filters with action ARCHIVE archive the findings they match as findings are
created or updated — by a scan and by the API — as GuardDuty's suppression rules do. A rule belongs
to a detector (an account and region) and applies to that account's findings in that region and to
those of the accounts it administers."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import Connection, select

from trailhound.findings import criteria
from trailhound.findings.model import Finding, to_wire
from trailhound.store import tables as t


@dataclass
class Suppression:
    rules: dict[tuple[str, str], list[tuple[str, criteria.Criteria]]] = field(default_factory=dict)  # (account, region) -> [(name, rule)]

    @classmethod
    def load(cls, conn: Connection) -> Suppression:
        d, f, m = t.detectors.c, t.filters.c, t.members.c
        admins: dict[str, list[str]] = defaultdict(list)  # administrator -> members
        for admin, member in conn.execute(select(m.administrator_id, m.account_id).where(m.relationship_status == "Enabled")):
            admins[admin].append(member)
        rules: dict[tuple[str, str], list[tuple[str, criteria.Criteria]]] = defaultdict(list)
        q = (select(d.account_id, d.region, f.name, f.criteria).join(t.filters, f.detector_id == d.id)
             .where(f.action == "ARCHIVE").order_by(f.rank, f.name))
        for account, region, name, given in conn.execute(q):
            try:
                rule = criteria.parse(_loads(given), allow_matches=True)
            except criteria.CriteriaError:
                continue  # validated when saved; a rule a newer model refuses is skipped, not fatal
            for target in (account, *admins.get(account, ())):
                rules[(target, region)].append((name, rule))
        return cls(dict(rules))

    def __bool__(self) -> bool:
        return bool(self.rules)

    def apply(self, finding: Finding) -> str | None:
        """Archive the finding if a rule matches it; the rule's name, or None."""
        rules = self.rules.get((finding.account_id, finding.region))
        if not rules:
            return None
        doc = to_wire(finding)
        for name, rule in rules:
            if criteria.matches(rule, doc):
                finding.service.archived = True
                return name
        return None


def _loads(value: bytes | str) -> object:
    import orjson

    return orjson.loads(value)
