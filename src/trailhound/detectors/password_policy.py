"""Stealth:IAMUser/PasswordPolicyChange — the account password policy was weakened or deleted.

A weaker policy makes password spraying and brute force easier and can be a step in
persistence. The policy in force before the change is remembered per account (state); when it
is not known yet, the change is judged against AWS's default policy (8 characters, no other
requirement). Severity grows with how much weaker the new policy is: a deletion or a drop to a
short minimum length is High, several weakened settings Medium, one Low.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from trailhound.detectors.base import Detector, api_occurrence
from trailhound.events import ApiCall, Source
from trailhound.findings.model import HIGH, LOW, MEDIUM, Occurrence

# What AWS enforces when an account has no custom policy.
AWS_DEFAULT_POLICY: dict[str, Any] = {"minimumPasswordLength": 8}
_REQUIREMENTS = ("requireSymbols", "requireNumbers", "requireUppercaseCharacters", "requireLowercaseCharacters", "hardExpiry")


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _flag(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def weakenings(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Human-readable list of what `new` relaxes compared with `old`."""
    out: list[str] = []
    old_len, new_len = _as_int(old.get("minimumPasswordLength")) or 6, _as_int(new.get("minimumPasswordLength")) or 6
    if new_len < old_len:
        out.append(f"minimum length {old_len} -> {new_len}")
    for req in _REQUIREMENTS:
        if _flag(old.get(req)) and not _flag(new.get(req)):
            out.append(f"{req} dropped")
    old_age, new_age = _as_int(old.get("maxPasswordAge")), _as_int(new.get("maxPasswordAge"))
    if old_age and (not new_age or new_age > old_age):
        out.append(f"max password age {old_age} -> {new_age or 'never expires'}")
    old_reuse, new_reuse = _as_int(old.get("passwordReusePrevention")), _as_int(new.get("passwordReusePrevention"))
    if old_reuse and (not new_reuse or new_reuse < old_reuse):
        out.append(f"password reuse prevention {old_reuse} -> {new_reuse or 'off'}")
    return out


def _policy(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if k in ("minimumPasswordLength", "maxPasswordAge", "passwordReusePrevention", "allowUsersToChangePassword", *_REQUIREMENTS)}


class PasswordPolicyChange(Detector):
    name = "password-policy-change"
    consumes = Source.CLOUDTRAIL
    finding_types = ("Stealth:IAMUser/PasswordPolicyChange",)
    event_names = frozenset({"UpdateAccountPasswordPolicy", "DeleteAccountPasswordPolicy"})
    stateful = True

    def key(self, e: ApiCall) -> str:
        return e.account_id

    def run(self, events: Sequence[ApiCall], state: Mapping[str, Any]) -> tuple[list[Occurrence], dict[str, Any]]:
        policies = {k: v for k, v in state.items()}
        out: list[Occurrence] = []
        for e in events:
            if e.error_code:
                continue
            acct = e.account_id
            before = policies.get(acct) or AWS_DEFAULT_POLICY
            if e.event_name == "DeleteAccountPasswordPolicy":
                policies[acct] = AWS_DEFAULT_POLICY
                out.append(self._occurrence(e, HIGH, ["password policy deleted"], before, {}))
                continue
            after = _policy(e.params())
            policies[acct] = after
            changes = weakenings(before, after)
            if not changes:
                continue
            new_len = _as_int(after.get("minimumPasswordLength")) or 6
            severity = HIGH if new_len <= 6 and len(changes) > 1 else MEDIUM if len(changes) > 1 or new_len < 8 else LOW
            out.append(self._occurrence(e, severity, changes, before, after))
        return out, {k: policies[k] for k in {self.key(e) for e in events} if k in policies}

    def _occurrence(self, e: ApiCall, severity: float, changes: list[str], before: Mapping[str, Any], after: Mapping[str, Any]) -> Occurrence:
        return api_occurrence(
            e,
            "Stealth:IAMUser/PasswordPolicyChange",
            severity,
            "Account password policy was weakened.",
            f"The account password policy was weakened by {e.user_identity.name} with {e.event_name}: {'; '.join(changes)}. "
            "Weaker passwords make brute force and password spraying easier.",
            additional_info={"previousPolicy": dict(before), "newPolicy": dict(after), "weakenedSettings": changes},
            resource_key=e.account_id,
        )
