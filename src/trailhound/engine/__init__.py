"""The behaviour engine: detector metadata, keyed state, windows, timers and baselines.

``detector`` (what a detector declares) · ``keyed`` (the per-entity contract) · ``windowed``
(observe into reducers over sliding windows) · ``reducers`` · ``baseline`` (profiles and robust
scores) · ``state`` (typed state in memory and in the store) · ``runner`` (the engine that owns
time: watermark, timers, expiry).
"""

from trailhound.engine.baseline import Profile, ProfileState, Scorer, ScorerState
from trailhound.engine.detector import REGISTRY, Detector, FindingType, Rule, Severity, severity
from trailhound.engine.keyed import KeyedDetector
from trailhound.engine.reducers import Count, Distinct, Last, Sum
from trailhound.engine.runner import Engine
from trailhound.engine.windowed import Sliding, Window, WindowedDetector

__all__ = [
    "REGISTRY", "Count", "Detector", "Distinct", "Engine", "FindingType", "KeyedDetector", "Last", "Profile", "ProfileState", "Rule",
    "Scorer", "ScorerState", "Severity", "Sliding", "Sum", "Window", "WindowedDetector", "severity",
]
