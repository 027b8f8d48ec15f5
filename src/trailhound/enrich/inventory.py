"""Resource inventory: which instance owns a network interface or a private IP, with its tags
and role, so that EC2 findings carry GuardDuty's ``instanceDetails``.

Filled from ``aws ec2 describe-instances`` output and from what the logs reveal on their own:
flow-log ``instance-id`` columns, CloudTrail ``RunInstances`` responses and instance-role
sessions (``assumed-role/<role>/i-0123...``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import polars as pl

from trailhound.events import ApiCall

_INSTANCE_ID = re.compile(r"^i-[0-9a-f]{8,17}$")


def _iso_ms(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (int, float)):  # CloudTrail gives launchTime in epoch milliseconds
        return datetime.fromtimestamp(value / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    text = str(value)
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    except ValueError:
        return text


def _dicts(value: Any) -> list[dict[str, Any]]:
    """The dict members of a list (anything else in odd documents is ignored)."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _items(value: Any) -> list[dict[str, Any]]:
    """CloudTrail renders EC2 lists as {"items": [...]}."""
    if isinstance(value, dict):
        value = value.get("items")
    return _dicts(value)


# (Karpenter's nodes carry their NodePool's name, v1; its Provisioner's before: a pool's nodes are as alike as a node group's)
GROUP_TAGS = (("aws:autoscaling:groupName", "asg"), ("eks:nodegroup-name", "eks-nodegroup"), ("karpenter.sh/nodepool", "karpenter"),
              ("karpenter.sh/provisioner-name", "karpenter"))
GROUP_PREFIXES = tuple(f"{kind}:" for _, kind in GROUP_TAGS)  # how a fleet's name starts (an address never does)


class Inventory:
    def __init__(self) -> None:
        self.instances: dict[str, dict[str, Any]] = {}  # instanceId -> InstanceDetails (wire form)
        self.by_eni: dict[str, str] = {}
        self.by_private_ip: dict[str, str] = {}
        self.role_sessions: dict[str, list[str]] = {}  # role ARN -> instance ids seen using it
        self.sessions_seen: set[str] = set()  # principal ids already learned (not persisted: a cheap memo)
        self.rejected = 0  # describe-instances entries that could not be understood
        self.changed = False
        self._version = 0  # bumped by every change of instances or interfaces: the group maps are rebuilt then
        self._groups: tuple[int, tuple[dict[str, str], dict[str, str]]] | None = None
        self._public: tuple[int, frozenset[str]] | None = None
        self._v6: tuple[int, frozenset[str]] | None = None

    # -- sources --------------------------------------------------------------------------
    def load_describe_instances(self, doc: dict[str, Any]) -> int:
        n = 0
        for reservation in _dicts(_dict(doc).get("Reservations")):
            for inst in _dicts(reservation.get("Instances")):
                if not isinstance(inst.get("InstanceId"), str):
                    self.rejected += 1
                    continue
                profile = _dict(inst.get("IamInstanceProfile"))
                nics = []
                for nic in _dicts(inst.get("NetworkInterfaces")):
                    assoc = _dict(nic.get("Association"))
                    nics.append(
                        {
                            "networkInterfaceId": nic.get("NetworkInterfaceId"),
                            "vpcId": nic.get("VpcId") or inst.get("VpcId"),
                            "subnetId": nic.get("SubnetId") or inst.get("SubnetId"),
                            "privateDnsName": nic.get("PrivateDnsName") or inst.get("PrivateDnsName"),
                            "privateIpAddress": nic.get("PrivateIpAddress"),
                            "privateIpAddresses": [
                                {"privateDnsName": a.get("PrivateDnsName"), "privateIpAddress": a.get("PrivateIpAddress")}
                                for a in _dicts(nic.get("PrivateIpAddresses"))
                            ],
                            "publicDnsName": assoc.get("PublicDnsName"),
                            "publicIp": assoc.get("PublicIp"),
                            "ipv6Addresses": [a.get("Ipv6Address") for a in _dicts(nic.get("Ipv6Addresses"))],
                            "securityGroups": [{"groupId": g.get("GroupId"), "groupName": g.get("GroupName")} for g in _dicts(nic.get("Groups"))],
                        }
                    )
                details = {
                    "instanceId": inst["InstanceId"],
                    "instanceType": inst.get("InstanceType"),
                    "instanceState": _dict(inst.get("State")).get("Name"),
                    "availabilityZone": _dict(inst.get("Placement")).get("AvailabilityZone"),
                    "imageId": inst.get("ImageId"),
                    "imageDescription": inst.get("ImageDescription"),
                    "launchTime": _iso_ms(inst.get("LaunchTime")),
                    "platform": inst.get("Platform"),
                    "iamInstanceProfile": {"arn": profile.get("Arn"), "id": profile.get("Id")} if profile else None,
                    "networkInterfaces": nics,
                    "productCodes": [{"productCodeId": p.get("ProductCodeId"), "productCodeType": p.get("ProductCodeType")} for p in _dicts(inst.get("ProductCodes"))],
                    "tags": [{"key": t.get("Key"), "value": t.get("Value")} for t in _dicts(inst.get("Tags"))],
                }
                self._put(details)
                n += 1
        return n

    def learn_api_call(self, e: ApiCall) -> None:
        """Instances launched (RunInstances responses) and instance-role sessions."""
        if e.event_name == "RunInstances" and not e.error_code:
            for inst in _items(e.response().get("instancesSet")):
                if "instanceId" not in inst:
                    continue
                profile = _dict(inst.get("iamInstanceProfile"))
                nics = [
                    {
                        "networkInterfaceId": nic.get("networkInterfaceId"),
                        "vpcId": nic.get("vpcId"),
                        "subnetId": nic.get("subnetId"),
                        "privateIpAddress": nic.get("privateIpAddress"),
                        "privateIpAddresses": [{"privateIpAddress": nic.get("privateIpAddress")}] if nic.get("privateIpAddress") else [],
                        "securityGroups": [{"groupId": g.get("groupId"), "groupName": g.get("groupName")} for g in _items(nic.get("groupSet"))],
                        "ipv6Addresses": [],
                    }
                    for nic in _items(inst.get("networkInterfaceSet"))
                ]
                self._put(
                    {
                        "instanceId": inst["instanceId"],
                        "instanceType": inst.get("instanceType"),
                        "instanceState": _dict(inst.get("instanceState")).get("name", "pending"),
                        "availabilityZone": _dict(inst.get("placement")).get("availabilityZone"),
                        "imageId": inst.get("imageId"),
                        "launchTime": _iso_ms(inst.get("launchTime")),
                        "platform": inst.get("platform"),
                        "iamInstanceProfile": {"arn": profile.get("arn"), "id": profile.get("id")} if profile else None,
                        "networkInterfaces": nics,
                        "productCodes": [],
                        "tags": [{"key": t.get("key"), "value": t.get("value")} for t in _items(inst.get("tagSet"))],
                    },
                    overwrite=False,
                )
            return
        ident = e.user_identity
        if ident.principal_id:
            self.sessions_seen.add(ident.principal_id)
        if ident.type == "AssumedRole" and ident.principal_id and ":i-" in ident.principal_id:
            instance_id = ident.principal_id.rsplit(":", 1)[1]
            issuer = ident.session_context.session_issuer if ident.session_context else None
            role = issuer.arn if issuer and issuer.arn else (ident.arn or "")
            if _INSTANCE_ID.match(instance_id):
                seen = self.role_sessions.setdefault(role, [])
                if instance_id not in seen:
                    seen.append(instance_id)
                    self.changed = True

    def learn_flows(self, df: pl.DataFrame) -> None:
        """Flow logs of format v3+ name the instance behind each interface."""
        if df.height == 0 or df["instance_id"].null_count() == df.height:
            return
        pairs = (df.lazy().select("interface_id", "instance_id", "vpc_id", "subnet_id").drop_nulls(["interface_id", "instance_id"]).unique()
                 .collect())  # one query: each Polars call has a fixed cost
        for eni, instance_id, vpc, subnet in pairs.iter_rows():
            if self.by_eni.get(eni) == instance_id:
                continue
            if instance_id not in self.instances:
                self._put({"instanceId": instance_id, "networkInterfaces": [{"networkInterfaceId": eni, "vpcId": vpc, "subnetId": subnet}], "tags": []})
            else:
                self.by_eni[eni] = instance_id
                self.changed = True
                self._version += 1

    # -- lookups --------------------------------------------------------------------------
    def instance(self, instance_id: str | None = None, eni: str | None = None, private_ip: str | None = None) -> dict[str, Any] | None:
        iid = instance_id or (self.by_eni.get(eni) if eni else None) or (self.by_private_ip.get(private_ip) if private_ip else None)
        return self.instances.get(iid) if iid else None

    def groups(self) -> tuple[dict[str, str], dict[str, str]]:
        """(instance id -> group, interface id -> group) for the instances of a fleet whose members are
        interchangeable by design — an Auto Scaling group, an EKS node group, a Karpenter NodePool (by their tags) — so that a
        member launched an hour ago is judged by what its fleet does, not left in a warm-up of its own.
        Names, launch templates and images are not groups: one AMI serves unrelated workloads."""
        if self._groups is None or self._groups[0] != self._version:
            by_instance = {}
            for iid, details in self.instances.items():
                tags = {t.get("key"): t.get("value") for t in details.get("tags") or []}
                for tag, kind in GROUP_TAGS:
                    if tags.get(tag):
                        by_instance[iid] = f"{kind}:{tags[tag]}"
                        break
            by_eni = {eni: by_instance[iid] for eni, iid in self.by_eni.items() if iid in by_instance}
            self._groups = (self._version, (by_instance, by_eni))
        return self._groups[1]

    def ipv6_addresses(self) -> frozenset[str]:
        """Our interfaces' IPv6 addresses, as the inventory gives them (rebuilt when it changes): global, but ours."""
        if self._v6 is None or self._v6[0] != self._version:
            found = frozenset(a for details in self.instances.values() for nic in details.get("networkInterfaces") or []
                              if isinstance(nic, dict) for a in nic.get("ipv6Addresses") or [] if isinstance(a, str) and ":" in a)
            self._v6 = (self._version, found)
        return self._v6[1]

    def public_addresses(self) -> frozenset[str]:
        """Our instances' public and Elastic IPs, as the inventory gives them (rebuilt when it changes)."""
        if self._public is None or self._public[0] != self._version:
            found = frozenset(nic["publicIp"] for details in self.instances.values() for nic in details.get("networkInterfaces") or []
                              if isinstance(nic, dict) and isinstance(nic.get("publicIp"), str) and nic["publicIp"])
            self._public = (self._version, found)
        return self._public[1]

    # -- persistence ----------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        return {"instances": self.instances, "role_sessions": self.role_sessions, "by_eni": self.by_eni}

    def merge(self, state: dict[str, Any]) -> None:
        """What another process learned (``to_state``), added to this inventory: its instances (a stub learned
        from flow logs never replaces richer details), interfaces and role sessions."""
        changed = self.changed
        for iid, details in state.get("instances", {}).items():
            if self.instances.get(iid) != details:
                self._put(details, overwrite="instanceType" in details)
        for eni, iid in state.get("by_eni", {}).items():
            if self.by_eni.get(eni) != iid:
                self.by_eni[eni] = iid
                self.changed = True
                self._version += 1
        for role, ids in state.get("role_sessions", {}).items():
            known = self.role_sessions.setdefault(role, [])
            new = [i for i in ids if i not in known]
            if new:
                known.extend(new)
                self.changed = True
        self.changed = self.changed or changed

    @classmethod
    def from_state(cls, state: dict[str, Any] | None) -> Inventory:
        inv = cls()
        if state:
            for details in state.get("instances", {}).values():
                inv._put(details)
            inv.by_eni.update(state.get("by_eni", {}))
            inv.role_sessions = {k: list(v) for k, v in state.get("role_sessions", {}).items()}
        inv.changed = False
        return inv

    def _put(self, details: dict[str, Any], overwrite: bool = True) -> None:
        iid = details["instanceId"]
        known = self.instances.get(iid)
        # overwrite=False keeps richer details already known; a stub learned from flow logs
        # (no instanceType) is not richer and is always completed.
        if known is not None and not overwrite and "instanceType" in known:
            return
        self.instances[iid] = details
        for nic in details.get("networkInterfaces") or []:
            if nic.get("networkInterfaceId"):
                self.by_eni[nic["networkInterfaceId"]] = iid
            for ip in [nic.get("privateIpAddress")] + [a.get("privateIpAddress") for a in nic.get("privateIpAddresses") or []]:
                if ip:
                    self.by_private_ip[ip] = iid
        self.changed = True
        self._version += 1
