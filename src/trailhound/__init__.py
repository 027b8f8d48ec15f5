"""Trailhound: GuardDuty-style threat detection over AWS logs."""

__version__ = "0.1.0"
