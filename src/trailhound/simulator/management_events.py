"""CloudTrail management events: the request and response of each API call the estate's actors make.

Most calls repeat: their records are built once per actor, operation, variant and outcome and copied
per record. Writes (tags, snapshots, log streams), instance launches and terminations, and role
assumptions are built per record or per credential period.
"""

from __future__ import annotations

import base64
import random
import time
from typing import Any

from trailhound.simulator.actors import Actor, Op, own_or_any, pick
from trailhound.simulator.estate import Estate
from trailhound.simulator.identities import TLS, Identities, TrailPart
from trailhound.simulator.spec import awsid, hexid, iso, uuid_from_hex


def amz_id2(r: random.Random) -> str:
    """An S3 extended request id (``x-amz-id-2``)."""
    return base64.b64encode(r.randbytes(57)).decode()


def _expiry(t: int) -> str:
    """STS credential expiration as CloudTrail renders it, e.g. ``Nov 1, 2026, 6:00:00 AM``."""
    g = time.gmtime(t)
    hour = g.tm_hour % 12 or 12
    return f"{time.strftime('%b', g)} {g.tm_mday}, {g.tm_year}, {hour}:{g.tm_min:02d}:{g.tm_sec:02d} {'AM' if g.tm_hour < 12 else 'PM'}"


class ManagementEvents(TrailPart):
    """Builds management-event records; ``base_cache`` holds the repeating ones."""

    def __init__(self, est: Estate, ids: Identities) -> None:
        super().__init__(est)
        self.ids = ids
        self.base_cache: dict[tuple[int, int, int, bool], dict] = {}
        self.assume_cache: dict[tuple[int, int], dict] = {}

    def _head(self, a: Actor, o: Op, ip: str, ua: str) -> dict:
        return {
            "eventVersion": "1.08", "userIdentity": None, "eventTime": "", "eventSource": o.source, "eventName": o.name,
            "awsRegion": "us-east-1" if o.svc == "iam" else self.region, "sourceIPAddress": ip, "userAgent": ua,
        }

    def _tail(self, rec: dict, a: Actor, o: Op, params: Any, tls: bool, console: bool, resources: Any = None) -> dict:
        """The fields after responseElements of a management event; IDs are filled in per record."""
        rec["requestID"] = ""
        rec["eventID"] = ""
        rec["readOnly"] = o.read_only
        if resources:
            rec["resources"] = resources
        rec["eventType"] = "AwsApiCall"
        rec["managementEvent"] = True
        rec["recipientAccountId"] = a.acct.account_id
        rec["eventCategory"] = "Management"
        if tls:
            rec["tlsDetails"] = {**TLS, "clientProvidedHostHeader": self.ids.host(a, o, params)}
        if console:
            rec["sessionCredentialFromConsole"] = "true"
        return rec

    def base(self, a: Actor, o: Op, v: int, err: bool) -> dict:
        """Variant ``v`` of a repeating call by ``a`` (denied when ``err``); the caller caches and copies it."""
        r = random.Random(f"{self.spec.seed}:base:{a.key}:{o.idx}:{v}")
        ip, ua, tls, console = self.ids.channel(a, o, r)
        params = o.req(a, r) if o.req else None
        rec = self._head(a, o, ip, ua)
        if err:
            arn = self.ids.ident(a, 0)["arn"]
            if o.svc == "ec2":
                rec["errorCode"] = "Client.UnauthorizedOperation"
                rec["errorMessage"] = (f"You are not authorized to perform this operation. User: {arn} is not authorized to perform: "
                                       f"ec2:{o.name} because no identity-based policy allows the ec2:{o.name} action")
            else:
                rec["errorCode"] = "AccessDenied"
                rec["errorMessage"] = (f"User: {arn} is not authorized to perform: {o.svc}:{o.name} on resource: "
                                       f"arn:aws:{o.svc}:{self.region}:{a.acct.account_id}:* because no identity-based policy "
                                       f"allows the {o.svc}:{o.name} action")
        rec["requestParameters"] = params
        rec["responseElements"] = None  # Describe/List/Get calls log no response
        resources = o.resources(a, r) if o.resources else None
        if o.svc == "s3" and isinstance(params, dict) and "bucketName" in params:
            rec["additionalEventData"] = {"SignatureVersion": "SigV4", "CipherSuite": "TLS_AES_128_GCM_SHA256", "bytesTransferredIn": 0,
                                          "AuthenticationMethod": "AuthHeader", "x-amz-id-2": amz_id2(r), "bytesTransferredOut": 0}
            resources = [{"accountId": a.acct.account_id, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{params['bucketName']}"}]
        return self._tail(rec, a, o, params, tls, console, resources=resources)

    def write_op(self, a: Actor, o: Op, r: random.Random, rid: str, t: int) -> dict:
        """A CreateTags, CreateSnapshot or CreateLogStream call at ``t``, with its response."""
        ip, ua, tls, console = self.ids.channel(a, o, r)
        rec = self._head(a, o, ip, ua)
        acct = a.acct.account_id
        if o.name == "CreateTags":
            target = own_or_any(a, r)
            key, value = pick((("Owner", "platform"), ("CostCenter", "cc-1042"), ("Backup", "daily"), ("Patch Group", a.acct.env)), r)
            params = {"resourcesSet": {"items": [{"resourceId": target}]}, "tagSet": {"items": [{"key": key, "value": value}]}}
            resp: Any = {"requestId": rid, "_return": True}
        elif o.name == "CreateSnapshot":
            vol = f"vol-{hexid(r)}"
            params = {"volumeId": vol, "description": f"nightly backup {iso(t)[:10]}"}
            resp = {"requestId": rid, "snapshotId": f"snap-{hexid(r)}", "volumeId": vol, "status": "pending",
                    "startTime": (t + 1) * 1000, "progress": "", "ownerId": acct, "volumeSize": pick((30, 50, 100, 500), r),
                    "description": params["description"], "encrypted": True}
        else:  # CreateLogStream
            inst = a.inst
            group = f"/{a.acct.env}/{inst.kind if inst else 'api'}/app"
            params = {"logGroupName": group, "logStreamName": f"{inst.instance_id if inst else 'api'}/{iso(t)[:10]}"}
            resp = None
        rec["requestParameters"] = params
        rec["responseElements"] = resp
        return self._tail(rec, a, o, params, tls, console)

    def run_instances(self, a: Actor, o: Op, r: random.Random, rid: str, t: int) -> dict:
        """A RunInstances launching one instance like one of the account's own, outside the inventory's addresses."""
        ip, ua, tls, console = self.ids.channel(a, o, r)
        rec = self._head(a, o, ip, ua)
        acct = a.acct
        tmpl = pick(acct.instances, r) if acct.instances else None
        kind = tmpl.kind if tmpl else "worker"
        subnet_id, az, octet = pick(acct.subnets, r)
        private_ip = f"10.0.{octet}.{r.randint(251, 254)}"  # never an inventory (.4-.199) or managed (.200-.249) address
        iid, eni = f"i-{hexid(r)}", f"eni-{hexid(r)}"
        sg_id, sg_name = (tmpl.sg_id, tmpl.sg_name) if tmpl else (f"sg-{hexid(r)}", "default")
        image = tmpl.image_id if tmpl else f"ami-{hexid(r)}"
        itype = tmpl.instance_type if tmpl else "c6i.xlarge"
        profile_arn = f"arn:aws:iam::{acct.account_id}:instance-profile/{acct.env}-{kind}-instance-profile"
        profile_id = tmpl.profile_id if tmpl else awsid(r, "AIPA", 17)
        name = f"{acct.env}-{kind}-asg"
        launch_ms = t * 1000
        private_dns = f"ip-{private_ip.replace('.', '-')}.{self.est.internal_suffix}"
        groups = {"items": [{"groupId": sg_id, "groupName": sg_name}]}
        tags = {"items": [{"key": "Name", "value": name}, {"key": "aws:autoscaling:groupName", "value": name}]}
        rec["requestParameters"] = {
            "instancesSet": {"items": [{"minCount": 1, "maxCount": 1}]},
            "blockDeviceMapping": {}, "monitoring": {"enabled": False}, "disableApiTermination": False, "disableApiStop": False,
            "clientToken": uuid_from_hex(hexid(r, 32)),
            "launchTemplate": {"launchTemplateId": f"lt-{hexid(r)}", "version": str(r.randint(3, 40))},
            "networkInterfaceSet": {"items": [{"deviceIndex": 0, "subnetId": subnet_id, "groupSet": {"items": [{"groupId": sg_id}]}}]},
            "tagSpecificationSet": {"items": [{"resourceType": "instance", "tags": [{"key": "Name", "value": name}]}]},
        }
        rec["responseElements"] = {
            "requestId": rid, "reservationId": f"r-{hexid(r)}", "ownerId": acct.account_id, "groupSet": {},
            "instancesSet": {"items": [{
                "instanceId": iid, "imageId": image, "currentInstanceBootMode": "legacy-bios",
                "instanceState": {"code": 0, "name": "pending"}, "privateDnsName": private_dns, "amiLaunchIndex": 0,
                "productCodes": {}, "instanceType": itype, "launchTime": launch_ms,
                "placement": {"availabilityZone": az, "tenancy": "default"}, "monitoring": {"state": "disabled"},
                "subnetId": subnet_id, "vpcId": acct.vpc_id, "privateIpAddress": private_ip,
                "stateReason": {"code": "pending", "message": "pending"}, "architecture": "x86_64", "rootDeviceType": "ebs",
                "rootDeviceName": "/dev/sda1", "blockDeviceMapping": {}, "virtualizationType": "hvm", "hypervisor": "xen",
                "tagSet": tags, "groupSet": groups, "sourceDestCheck": True,
                "networkInterfaceSet": {"items": [{
                    "networkInterfaceId": eni, "subnetId": subnet_id, "vpcId": acct.vpc_id, "ownerId": acct.account_id,
                    "status": "in-use", "macAddress": "02:" + ":".join(f"{r.randint(0, 255):02x}" for _ in range(5)),
                    "privateIpAddress": private_ip, "privateDnsName": private_dns, "sourceDestCheck": True,
                    "interfaceType": "interface", "groupSet": groups,
                    "attachment": {"attachmentId": f"eni-attach-{hexid(r)}", "deviceIndex": 0, "networkCardIndex": 0,
                                   "status": "attaching", "attachTime": launch_ms, "deleteOnTermination": True},
                    "privateIpAddressesSet": {"item": [{"privateIpAddress": private_ip, "privateDnsName": private_dns, "primary": True}]},
                    "ipv6AddressesSet": {}, "tagSet": {},
                }]},
                "iamInstanceProfile": {"arn": profile_arn, "id": profile_id},
                "ebsOptimized": False, "enaSupport": True, "cpuOptions": {"coreCount": 2, "threadsPerCore": 2},
                "capacityReservationSpecification": {"capacityReservationPreference": "open"},
                "hibernationOptions": {"configured": False}, "enclaveOptions": {"enabled": False},
                "metadataOptions": {"state": "pending", "httpTokens": "required", "httpPutResponseHopLimit": 2, "httpEndpoint": "enabled"},
                "maintenanceOptions": {"autoRecovery": "default"},
                "privateDnsNameOptions": {"hostnameType": "ip-name", "enableResourceNameDnsARecord": False},
            }]},
            **({"requesterId": "940372691376"} if a.kind == "autoscaling" else {}),
        }
        return self._tail(rec, a, o, rec["requestParameters"], tls, console)

    def terminate(self, a: Actor, o: Op, r: random.Random, rid: str) -> dict:
        """A TerminateInstances of an autoscaled instance."""
        ip, ua, tls, console = self.ids.channel(a, o, r)
        rec = self._head(a, o, ip, ua)
        iid = f"i-{hexid(r)}"  # an autoscaled instance launched before the window, never one of the inventory's
        rec["requestParameters"] = {"instancesSet": {"items": [{"instanceId": iid}]}}
        rec["responseElements"] = {"requestId": rid, "instancesSet": {"items": [{
            "instanceId": iid, "currentState": {"code": 32, "name": "shutting-down"}, "previousState": {"code": 16, "name": "running"}}]}}
        return self._tail(rec, a, o, rec["requestParameters"], tls, console)

    def assume_ec2(self, a: Actor, bucket: int) -> dict:
        """The AssumeRole that EC2 makes to deliver an instance's role credentials (one per credential period)."""
        key = (a.key, bucket)
        got = self.assume_cache.get(key)
        if got is not None:
            return got
        inst = a.inst
        assert inst is not None
        r = random.Random(f"{self.spec.seed}:assume:{a.key}:{bucket}")
        acct = a.acct.account_id
        role_arn = f"arn:aws:iam::{acct}:role/{inst.role_name}"
        rec = {
            "eventVersion": "1.08", "userIdentity": {"type": "AWSService", "invokedBy": "ec2.amazonaws.com"}, "eventTime": "",
            "eventSource": "sts.amazonaws.com", "eventName": "AssumeRole", "awsRegion": self.region,
            "sourceIPAddress": "ec2.amazonaws.com", "userAgent": "ec2.amazonaws.com",
            "requestParameters": {"roleArn": role_arn, "roleSessionName": inst.instance_id},
            "responseElements": {"credentials": {"accessKeyId": self.ids.ec2_key(a, bucket),
                                                 "sessionToken": base64.b64encode(r.randbytes(300)).decode(),
                                                 "expiration": _expiry(self.start + (bucket + 1) * a.bucket_len + 3600)}},
            "requestID": "", "eventID": "", "readOnly": True,
            "resources": [{"accountId": acct, "type": "AWS::IAM::Role", "ARN": role_arn}],
            "eventType": "AwsApiCall", "managementEvent": True, "recipientAccountId": acct,
            "sharedEventID": uuid_from_hex(hexid(r, 32)), "eventCategory": "Management",
        }
        self.assume_cache[key] = rec
        return rec

    def assume_user(self, a: Actor, o: Op, v: int, err: bool) -> dict:
        """An IAM user assuming the account's deploy role (variant ``v``, denied when ``err``); cached like ``base``."""
        key = (a.key, o.idx, v, err)
        got = self.base_cache.get(key)
        if got is not None:
            return got
        r = random.Random(f"{self.spec.seed}:assumeu:{a.key}:{v}")
        acct = a.acct.account_id
        role = f"{a.acct.env}-deploy-role"
        session = f"{a.user.name if a.user else 'session'}-{r.randint(10 ** 9, 10 ** 10 - 1)}"
        role_arn = f"arn:aws:iam::{acct}:role/{role}"
        ip, ua, tls, console = self.ids.channel(a, o, r)
        rec = self._head(a, o, ip, ua)
        if err:
            rec["errorCode"] = "AccessDenied"
            rec["errorMessage"] = f"User: {self.ids.ident(a, 0)['arn']} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"
        rec["requestParameters"] = {"roleArn": role_arn, "roleSessionName": session, "durationSeconds": 3600}
        rec["responseElements"] = None if err else {
            "credentials": {"accessKeyId": awsid(r, "ASIA", 16), "sessionToken": base64.b64encode(r.randbytes(300)).decode(),
                            "expiration": _expiry(self.start + r.randint(3600, 86400 * self.spec.days))},
            "assumedRoleUser": {"assumedRoleId": f"{a.acct.deploy_role_id}:{session}", "arn": f"arn:aws:sts::{acct}:assumed-role/{role}/{session}"},
        }
        out = self._tail(rec, a, o, None, tls, console, resources=[{"accountId": acct, "type": "AWS::IAM::Role", "ARN": role_arn}])
        self.base_cache[key] = out
        return out
