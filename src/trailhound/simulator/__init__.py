"""Seeded simulated AWS estate: CloudTrail, VPC Flow Logs and Route 53 Resolver query logs.

Files are laid out exactly as AWS delivers them to S3 (key structure, file naming, gzip, header
lines), so ingestion runs the same code paths on simulated and real data. Everything derives from
``EstateSpec.seed``: one spec always yields byte-identical files.

The estate (``estate``) is one VPC per account with a few subnets and ``spec.instances`` EC2 instances
of a handful of kinds. The inventory (``inventory``), the instance role sessions in CloudTrail
(``cloudtrail`` and its parts ``actors``, ``identities``, ``management_events``, ``data_events``), the
ENIs in the flow logs (``flows``) and the sources of DNS queries (``dns``) all refer to the same
instances, and flow-log peers are the addresses the DNS answers gave out (``network``, ``domains``).
``writer`` puts it all on disk.

The background is benign on purpose: no defense-evasion or policy-weakening API calls, no Root
identity, no pentest user agents, no address taken from a threat list. Detectors add attacks on
top of it, so anything they find in the background alone is a false positive.

Speed: records are shallow copies of cached, pre-built templates with a few fields replaced,
serialised with orjson; flow and DNS lines are drawn with numpy and joined from pre-built string
pieces; files are compressed with ISA-L at level 1.
"""

from trailhound.simulator.actors import FORBIDDEN_EVENT_NAMES
from trailhound.simulator.flows import FLOW_HEADER_V2, FLOW_HEADER_V5
from trailhound.simulator.inventory import instances_inventory
from trailhound.simulator.spec import EstateFiles, EstateSpec
from trailhound.simulator.writer import write_estate

__all__ = [
    "FLOW_HEADER_V2", "FLOW_HEADER_V5", "FORBIDDEN_EVENT_NAMES", "EstateFiles", "EstateSpec", "instances_inventory", "write_estate",
]
