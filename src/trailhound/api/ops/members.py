"""Members and administrators. A key made with ``credentials create --admin`` belongs to a delegated
administrator (GuardDuty's Organizations model): the accounts it adds as members are enabled at once,
and it sees their findings; a member sees only its own. Without ``--admin`` an account cannot add members."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import delete, select, update

from trailhound.api.context import Ctx, handles, next_token, now_iso, page
from trailhound.api.protocol import denied
from trailhound.store import tables as t
from trailhound.store.rows import upsert

M = t.members.c
_ACCOUNT = re.compile(r"\d{12}")


def _member(row: Any, detectors: dict[str, str]) -> dict[str, Any]:
    return {"accountId": row["account_id"], "administratorId": row["administrator_id"], "masterId": row["administrator_id"],
            "email": row["email"], "relationshipStatus": row["relationship_status"], "invitedAt": row["invited_at"],
            "updatedAt": row["updated_at"], **({"detectorId": detectors[row["account_id"]]} if row["account_id"] in detectors else {})}


def _detectors(ctx: Ctx, accounts: list[str]) -> dict[str, str]:
    d = t.detectors.c
    return dict(ctx.conn.execute(select(d.account_id, d.id).where(d.account_id.in_(accounts), d.region == ctx.region)).all())


def _unprocessed(account: str, result: str) -> dict[str, str]:
    return {"accountId": account, "result": result}


@handles("CreateMembers")
def create_members(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    ctx.detector(p["DetectorId"])
    if not ctx.caller.admin:
        raise denied("Only a delegated administrator (a key made with `trailhound credentials create --admin`) can add members.")
    unprocessed, rows, now = [], [], now_iso()
    for detail in p["AccountDetails"]:
        account = detail.get("accountId", "")
        taken = ctx.conn.execute(select(M.administrator_id).where(M.account_id == account, M.relationship_status == "Enabled",
                                                                   M.administrator_id != ctx.account)).first()
        if not _ACCOUNT.fullmatch(account):
            unprocessed.append(_unprocessed(account, "The account id is not 12 digits."))
        elif account == ctx.account:
            unprocessed.append(_unprocessed(account, "The administrator cannot be its own member."))
        elif taken is not None:
            unprocessed.append(_unprocessed(account, "The account is already a member of another administrator."))
        elif ctx.conn.execute(select(M.account_id).where(M.administrator_id == account, M.relationship_status == "Enabled")).first():
            unprocessed.append(_unprocessed(account, "The account is an administrator itself."))
        else:
            rows.append({"administrator_id": ctx.account, "account_id": account, "email": detail.get("email", ""),
                         "relationship_status": "Enabled", "invited_at": now, "updated_at": now})
    if rows:
        with ctx.transaction() as c:
            c.execute(upsert(c, t.members, ["administrator_id", "account_id"]), rows)
        ctx.changed_scopes()
    return {"UnprocessedAccounts": unprocessed}


def _mine(ctx: Ctx, accounts: list[str]) -> tuple[list[str], list[dict[str, str]]]:
    have = set(ctx.conn.execute(select(M.account_id).where(M.administrator_id == ctx.account, M.account_id.in_(accounts))).scalars())
    return [a for a in accounts if a in have], [_unprocessed(a, "The account is not a member of this administrator.") for a in accounts if a not in have]


@handles("GetMembers")
def get_members(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    ctx.detector(p["DetectorId"])
    mine, unprocessed = _mine(ctx, p["AccountIds"])
    rows = ctx.conn.execute(select(t.members).where(M.administrator_id == ctx.account, M.account_id.in_(mine))).mappings().all()
    detectors = _detectors(ctx, mine)
    return {"Members": [_member(r, detectors) for r in rows], "UnprocessedAccounts": unprocessed}


@handles("ListMembers")
def list_members(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    ctx.detector(p["DetectorId"])
    limit, salt = p.get("MaxResults") or 50, f"members:{p.get('OnlyAssociated')}"
    offset = page(p.get("NextToken"), salt)
    q = select(t.members).where(M.administrator_id == ctx.account)
    if str(p.get("OnlyAssociated", "true")).lower() != "false":
        q = q.where(M.relationship_status == "Enabled")
    rows = ctx.conn.execute(q.order_by(M.account_id).offset(offset).limit(limit + 1)).mappings().all()
    detectors = _detectors(ctx, [r["account_id"] for r in rows])
    return {"Members": [_member(r, detectors) for r in rows[:limit]], "NextToken": next_token(offset + limit, salt) if len(rows) > limit else None}


@handles("DeleteMembers")
def delete_members(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    ctx.detector(p["DetectorId"])
    mine, unprocessed = _mine(ctx, p["AccountIds"])
    with ctx.transaction() as c:
        c.execute(delete(t.members).where(M.administrator_id == ctx.account, M.account_id.in_(mine)))
    ctx.changed_scopes()
    return {"UnprocessedAccounts": unprocessed}


@handles("DisassociateMembers")
def disassociate_members(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    ctx.detector(p["DetectorId"])
    mine, unprocessed = _mine(ctx, p["AccountIds"])
    with ctx.transaction() as c:
        c.execute(update(t.members).where(M.administrator_id == ctx.account, M.account_id.in_(mine))
                  .values(relationship_status="Removed", updated_at=now_iso()))
    ctx.changed_scopes()
    return {"UnprocessedAccounts": unprocessed}


@handles("GetAdministratorAccount")
def get_administrator_account(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    ctx.detector(p["DetectorId"])
    row = ctx.conn.execute(select(t.members).where(M.account_id == ctx.account, M.relationship_status == "Enabled")).mappings().first()
    if row is None:
        return {}
    return {"Administrator": {"accountId": row["administrator_id"], "relationshipStatus": row["relationship_status"],
                              "invitedAt": row["invited_at"], "invitationId": f"{row['administrator_id']}-{row['account_id']}"}}


@handles("DisassociateFromAdministratorAccount")
def disassociate_from_administrator(ctx: Ctx, p: dict[str, Any]) -> None:
    ctx.detector(p["DetectorId"])
    with ctx.transaction() as c:
        c.execute(update(t.members).where(M.account_id == ctx.account, M.relationship_status == "Enabled")
                  .values(relationship_status="Removed", updated_at=now_iso()))
    ctx.changed_scopes()
