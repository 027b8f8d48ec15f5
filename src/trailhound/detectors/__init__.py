"""Detectors: one module per family. ``default_detectors`` is the set a scan runs."""

from __future__ import annotations

from trailhound.detectors.base import Detector, Rule
from trailhound.detectors.cloudtrail_logging import CloudTrailLoggingDisabled
from trailhound.detectors.password_policy import PasswordPolicyChange
from trailhound.detectors.pentest import PenTestUserAgent
from trailhound.detectors.port_probe import InboundProbe, TorRelay
from trailhound.detectors.root_usage import RootCredentialUsage
from trailhound.detectors.s3_logging import ServerAccessLoggingDisabled
from trailhound.detectors.s3_public import BlockPublicAccessDisabled, BucketPublicAccessGranted
from trailhound.detectors.threat_intel import ApiCallerThreatIntel, CombinedIntel, DnsThreatIntel, FlowThreatIntel, Intel

__all__ = ["Detector", "Rule", "default_detectors", "implemented_finding_types"]


def default_detectors(intel: Intel | None = None) -> list[Detector]:
    intel = intel or CombinedIntel()
    return [
        CloudTrailLoggingDisabled(),
        PasswordPolicyChange(),
        RootCredentialUsage(),
        PenTestUserAgent(),
        BlockPublicAccessDisabled(),
        BucketPublicAccessGranted(),
        ServerAccessLoggingDisabled(),
        ApiCallerThreatIntel(intel),
        FlowThreatIntel(intel),
        InboundProbe(intel),
        TorRelay(intel),
        DnsThreatIntel(intel),
    ]


def implemented_finding_types() -> list[str]:
    return sorted({t for d in default_detectors() for t in d.finding_types})
