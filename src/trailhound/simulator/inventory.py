"""The estate's EC2 inventory, as ``aws ec2 describe-instances`` prints it (the file enrichment reads)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from trailhound.simulator.estate import Estate, build_estate
from trailhound.simulator.spec import EstateSpec


def describe_instances(est: Estate) -> dict:
    """One reservation per instance, as the EC2 API returns it."""
    reservations = []
    for inst in est.instances:
        acct = inst.acct.account_id
        groups = [{"GroupId": inst.sg_id, "GroupName": inst.sg_name}]
        desc: dict[str, Any] = {
            "AmiLaunchIndex": 0,
            "ImageId": inst.image_id,
            "InstanceId": inst.instance_id,
            "InstanceType": inst.instance_type,
            "LaunchTime": datetime.fromtimestamp(inst.launch_time, UTC).isoformat(),
            "Monitoring": {"State": "disabled"},
            "Placement": {"AvailabilityZone": inst.az, "GroupName": "", "Tenancy": "default"},
            "PrivateDnsName": inst.private_dns,
            "PrivateIpAddress": inst.private_ip,
            "ProductCodes": [],
            "PublicDnsName": inst.public_dns,
            "PublicIpAddress": inst.public_ip,
            "State": {"Code": 16, "Name": "running"},
            "SubnetId": inst.subnet_id,
            "VpcId": inst.acct.vpc_id,
            "Architecture": "x86_64",
            "IamInstanceProfile": {"Arn": f"arn:aws:iam::{acct}:instance-profile/{inst.profile_name}", "Id": inst.profile_id},
            "NetworkInterfaces": [{
                "Association": {"IpOwnerId": "amazon", "PublicDnsName": inst.public_dns, "PublicIp": inst.public_ip},
                "Attachment": {"AttachTime": datetime.fromtimestamp(inst.launch_time, UTC).isoformat(),
                               "AttachmentId": "eni-attach-" + inst.eni[4:], "DeleteOnTermination": True,
                               "DeviceIndex": 0, "Status": "attached", "NetworkCardIndex": 0},
                "Description": "",
                "Groups": groups,
                "Ipv6Addresses": [],
                "MacAddress": inst.mac,
                "NetworkInterfaceId": inst.eni,
                "OwnerId": acct,
                "PrivateDnsName": inst.private_dns,
                "PrivateIpAddress": inst.private_ip,
                "PrivateIpAddresses": [{
                    "Association": {"IpOwnerId": "amazon", "PublicDnsName": inst.public_dns, "PublicIp": inst.public_ip},
                    "Primary": True, "PrivateDnsName": inst.private_dns, "PrivateIpAddress": inst.private_ip,
                }],
                "SourceDestCheck": True,
                "Status": "in-use",
                "SubnetId": inst.subnet_id,
                "VpcId": inst.acct.vpc_id,
                "InterfaceType": "interface",
            }],
            "SecurityGroups": groups,
            "Tags": [{"Key": "Name", "Value": inst.name}, {"Key": "Environment", "Value": inst.acct.env},
                     {"Key": "Role", "Value": inst.kind}],
            "VirtualizationType": "hvm",
            "MetadataOptions": {"State": "applied", "HttpTokens": "required", "HttpPutResponseHopLimit": 2, "HttpEndpoint": "enabled"},
        }
        if inst.os == "windows":
            desc["Platform"] = "windows"
            desc["PlatformDetails"] = "Windows"
        else:
            desc["PlatformDetails"] = "Linux/UNIX"
        reservations.append({"ReservationId": inst.reservation_id, "OwnerId": acct, "Groups": [], "Instances": [desc]})
    return {"Reservations": reservations}


def instances_inventory(spec: EstateSpec) -> dict:
    """The ``aws ec2 describe-instances`` output for the estate (what ``write_estate`` saves)."""
    return describe_instances(build_estate(spec))
