"""Stealth:IAMUser/PasswordPolicyChange — the account password policy was weakened or deleted.

A weaker policy makes password spraying and brute force easier and can be a step in
persistence. The policy in force before the change is remembered per account (state); when it
is not known yet, the change is judged against AWS's default policy (8 characters, no other
requirement). Severity grows with how much weaker the new policy is: a deletion or a drop to a
short minimum length is High, several weakened settings Medium, one Low.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import msgspec

from trailhound.engine import FindingType, KeyedDetector, severity
from trailhound.events import ApiCall, Source
from trailhound.findings.build import api_occurrence
from trailhound.findings.model import HIGH, LOW, MEDIUM, Occurrence

if TYPE_CHECKING:
    from trailhound.simulator.records import Case

TYPE = "Stealth:IAMUser/PasswordPolicyChange"
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


class PolicyState(msgspec.Struct, array_like=True):
    policy: dict[str, Any]  # the policy in force, as the last change set it


class PasswordPolicyChange(KeyedDetector[PolicyState]):
    """Keyed by account: the state is the policy in force (about 150 bytes), kept as long as it is in force."""

    name = "password-policy-change"
    consumes = Source.CLOUDTRAIL
    event_names = frozenset({"UpdateAccountPasswordPolicy", "DeleteAccountPasswordPolicy"})
    findings = (FindingType(TYPE, severity(LOW, several=MEDIUM, deleted_or_short=HIGH), "TA0005 Defense Evasion",
                            "T1556 Modify Authentication Process",
                            "policy weakened against the previous one (remembered per account; AWS's default when unknown) or deleted"),)
    State = PolicyState
    ttl = float("inf")  # a policy unchanged for years is still the one a weakening is judged against

    def key_of(self, e: ApiCall) -> str | None:
        return None if e.error_code else e.account_id

    def update(self, key: str, rows: list[ApiCall], state: PolicyState | None, watermark: float) -> tuple[list[Occurrence], PolicyState | None]:
        policy = state.policy if state else AWS_DEFAULT_POLICY
        out: list[Occurrence] = []
        for e in rows:
            before = policy
            if e.event_name == "DeleteAccountPasswordPolicy":
                policy = AWS_DEFAULT_POLICY
                out.append(self._occurrence(e, self.severity(TYPE, "deleted_or_short"), ["password policy deleted"], before, {}))
                continue
            policy = _policy(e.params())
            changes = weakenings(before, policy)
            if not changes:
                continue
            new_len = _as_int(policy.get("minimumPasswordLength")) or 6
            level = "deleted_or_short" if new_len <= 6 and len(changes) > 1 else "several" if len(changes) > 1 or new_len < 8 else None
            out.append(self._occurrence(e, self.severity(TYPE, level), changes, before, policy))
        return out, PolicyState(policy)

    def _occurrence(self, e: ApiCall, severity: float, changes: list[str], before: Mapping[str, Any], after: Mapping[str, Any]) -> Occurrence:
        return api_occurrence(
            e, TYPE, severity,
            "Account password policy was weakened.",
            f"The account password policy was weakened by {e.user_identity.name} with {e.event_name}: {'; '.join(changes)}. "
            "Weaker passwords make brute force and password spraying easier.",
            additional_info={"previousPolicy": dict(before), "newPolicy": dict(after), "weakenedSettings": changes},
            resource_key=e.account_id,
        )


def cases(start: datetime, account: str = "111122223333") -> list[Case]:
    from trailhound.simulator.records import Case, iam_user, record

    iam = "iam.amazonaws.com"
    t = iter(start + timedelta(minutes=3 * i) for i in range(100))
    strong = {"minimumPasswordLength": 14, "requireSymbols": True, "requireNumbers": True, "requireUppercaseCharacters": True,
              "requireLowercaseCharacters": True, "allowUsersToChangePassword": True, "maxPasswordAge": 90, "passwordReusePrevention": 24}
    weak = {"minimumPasswordLength": 6, "requireSymbols": False, "requireNumbers": False, "requireUppercaseCharacters": False,
            "requireLowercaseCharacters": False, "allowUsersToChangePassword": True}
    return [
        Case("password-policy-strengthened", None, record("UpdateAccountPasswordPolicy", iam, time=next(t), account=account, params=strong)),
        Case("password-policy-weakened", TYPE, record("UpdateAccountPasswordPolicy", iam, time=next(t), account=account,
                                                      identity=iam_user(account, "mallory"), params=weak)),
        Case("password-policy-delete-failed", None, record("DeleteAccountPasswordPolicy", iam, time=next(t), account=account,
                                                           error_code="NoSuchEntity")),
    ]
