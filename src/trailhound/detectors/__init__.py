"""Detectors: one module per family. ``default_detectors`` is the set a scan runs."""

from __future__ import annotations

from trailhound.detectors.base import Detector, Rule
from trailhound.detectors.cloudtrail_logging import CloudTrailLoggingDisabled
from trailhound.detectors.password_policy import PasswordPolicyChange
from trailhound.detectors.pentest import PenTestUserAgent
from trailhound.detectors.root_usage import RootCredentialUsage
from trailhound.detectors.s3_logging import ServerAccessLoggingDisabled
from trailhound.detectors.s3_public import BlockPublicAccessDisabled, BucketPublicAccessGranted
from trailhound.detectors.threat_ip import CustomThreatListCaller
from trailhound.intel.iplists import IpMatcher

__all__ = ["Detector", "Rule", "default_detectors", "implemented_finding_types"]


def default_detectors(threats: IpMatcher | None = None) -> list[Detector]:
    detectors: list[Detector] = [
        CloudTrailLoggingDisabled(),
        PasswordPolicyChange(),
        RootCredentialUsage(),
        PenTestUserAgent(),
        BlockPublicAccessDisabled(),
        BucketPublicAccessGranted(),
        ServerAccessLoggingDisabled(),
    ]
    if threats is not None and len(threats):
        detectors.append(CustomThreatListCaller(threats))
    return detectors


def implemented_finding_types() -> list[str]:
    return sorted({t for d in default_detectors(IpMatcher()) + [CustomThreatListCaller(IpMatcher())] for t in d.finding_types})
