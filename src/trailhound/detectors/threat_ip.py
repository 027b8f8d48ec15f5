"""Recon:IAMUser/MaliciousIPCaller.Custom and UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom
— an AWS API was called from an IP on one of the operator's threat lists.

Read-only discovery APIs (Describe/List/Get...) are reconnaissance; anything else is an
attempt to act. Findings aggregate per principal, type and caller IP.
"""

from __future__ import annotations

from trailhound.detectors.base import Rule, api_occurrence
from trailhound.events import ApiCall, Source
from trailhound.findings.model import MEDIUM, Occurrence
from trailhound.intel.iplists import IpMatcher

RECON_PREFIXES = ("Describe", "List", "Get", "Head", "Lookup", "Search", "BatchGet", "Scan")


class CustomThreatListCaller(Rule):
    name = "custom-threat-list-caller"
    consumes = Source.CLOUDTRAIL
    finding_types = ("Recon:IAMUser/MaliciousIPCaller.Custom", "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom")

    def __init__(self, threats: IpMatcher) -> None:
        self.lookup = threats.lookup

    def match(self, e: ApiCall) -> Occurrence | None:
        lists = self.lookup(e.source_ip)
        if not lists or e.is_s3_data_event:
            return None
        recon = e.event_name.startswith(RECON_PREFIXES)
        ftype = "Recon:IAMUser/MaliciousIPCaller.Custom" if recon else "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom"
        what = "reconnaissance API" if recon else "API"
        occ = api_occurrence(
            e,
            ftype,
            MEDIUM,
            f"{'Reconnaissance' if recon else 'An'} API {e.event_name} was invoked from an IP address on a custom threat list.",
            f"The {what} {e.event_name} was invoked by {e.user_identity.name} from {e.source_ip}, which is on the threat list "
            f"{', '.join(lists)}.",
            additional_info={"threatListName": lists[0]},
            aggregation_key=e.source_ip or "",
        )
        occ.evidence = {"threatIntelligenceDetails": [{"threatListName": name, "threatNames": []} for name in lists]}
        return occ
