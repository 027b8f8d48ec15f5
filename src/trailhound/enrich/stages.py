"""Enrichment stages: what every parsed file goes through before any detector sees it.

Each stage reads one source's batches, may add columns or learn from them, and returns the batch:
* ``InventoryLearning`` — which instance owns which interface and address (flow logs v3+ name
  them), instances launched (CloudTrail ``RunInstances``) and instance-role sessions;
* ``FlowAddresses`` — ``listed``, ``src_private``, ``dst_private``, ``src_public`` and ``dst_public`` columns on flow batches, from
  one lookup per distinct address, so detectors skip clean batches and tell our side from theirs; and
  ``instance_group``, the fleet (Auto Scaling group, EKS node group) of the instance that logged a row.
Geo/ASN enrichment is done per occurrence (``findings.enrich``): findings are rare, rows are not.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from trailhound.enrich.flows import learn_networks, mark_addresses
from trailhound.enrich.inventory import Inventory
from trailhound.events import ApiCall, Source
from trailhound.formats.base import Problem


class Stage(Protocol):
    sources: frozenset[Source]

    def __call__(self, source: Source, batch: Any, problems: list[Problem]) -> Any: ...


class InventoryLearning:
    sources = frozenset({Source.FLOW, Source.CLOUDTRAIL})

    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory

    def __call__(self, source: Source, batch: Any, problems: list[Problem]) -> Any:
        inventory = self.inventory
        if source is Source.FLOW:
            inventory.learn_flows(batch)
            return batch
        seen = inventory.sessions_seen
        sessions: dict[str, ApiCall] = {}  # instance-role sessions not learned yet, one event each
        launches = []
        for e in batch:
            pid = e.user_identity.principal_id
            if pid is not None and ":i-" in pid:
                if pid not in seen:
                    sessions[pid] = e
            elif e.event_name == "RunInstances":
                launches.append(e)
        for e in launches + list(sessions.values()):
            try:
                inventory.learn_api_call(e)
            except Exception as exc:  # an odd response document costs its inventory entry, nothing else
                problems.append(Problem(f"event {e.event_id}", f"{e.event_name} response not understood ({type(exc).__name__}: {exc})"))
        return batch


class FlowAddresses:
    sources = frozenset({Source.FLOW})

    def __init__(self, lookup: Callable[[str], Any], trusted: Callable[[str], Any] | None = None, inventory: Inventory | None = None,
                 own_v6: set[str] | None = None) -> None:
        self.lookup = lookup
        self.trusted = trusted
        self.inventory = inventory
        self.memo: dict[str, int] = {}  # the lists are fixed for a scan: judge each address once
        # the estate's own IPv6 /64s, as its interfaces log them and the inventory names them (shared with the places the
        # identity detectors ask: ``GeoPlaces.own_v6``)
        self.own_v6: set[str] = own_v6 if own_v6 is not None else set()
        self._seeded: frozenset[str] | None = None

    def __call__(self, source: Source, batch: Any, problems: list[Problem]) -> Any:
        inv = self.inventory
        groups, own = (inv.groups(), inv.public_addresses()) if inv is not None else (None, frozenset())
        if inv is not None:
            v6 = inv.ipv6_addresses()
            if v6 is not self._seeded:  # the inventory's IPv6 addresses name our /64s before any v5 log does (v2 logs never do)
                self._seeded = v6
                learn_networks(self.own_v6, v6)
        return mark_addresses(batch, self.lookup, self.trusted, self.memo, groups, self.own_v6, own)
