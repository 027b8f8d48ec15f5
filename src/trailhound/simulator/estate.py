"""The estate model: accounts (one VPC each, a few subnets, buckets, roles), the EC2 instances of a
handful of kinds (web, api, worker, db, ci-runner, bastion, windows), the IAM users, and the outside
addresses that reach them. Every log refers to these same objects."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

import numpy as np

from trailhound.simulator.spec import EstateSpec, awsid, hexid, unlisted_ip, uuid_from_hex

# ---------------------------------------------------------------------------------------------
# address pools: real, ordinary ranges (AWS, big US ISPs, clouds). Prefixes are /24s with no address
# on the FireHOL level 1, IPsum, ET, DShield, blocklist.de or Tor lists, so the background never
# matches a threat list by accident.

_EC2_PREFIXES = (
    "54.243.232.", "54.243.67.", "52.71.211.", "52.71.37.", "3.219.235.", "3.219.143.", "34.226.10.", "34.226.87.", "44.207.223.",
    "44.207.139.", "18.208.98.", "18.208.47.", "54.90.199.", "54.90.185.", "3.91.11.", "3.91.117.", "34.203.243.", "34.203.83.",
    "52.5.200.", "52.5.178.",
)
_HOME_PREFIXES = (
    "73.15.211.", "73.15.76.", "73.222.3.", "73.222.121.", "98.207.139.", "98.207.44.", "71.202.47.", "71.202.187.", "108.28.125.",
    "108.28.175.", "24.5.37.", "24.5.171.", "67.180.22.", "67.180.88.", "76.102.178.", "76.102.21.", "96.241.144.", "96.241.33.",
    "68.134.16.", "68.134.134.",
)
_CI_PREFIXES = (  # GitHub-hosted runners (Azure)
    "20.42.67.", "20.42.123.", "20.57.216.", "20.57.230.", "40.84.151.", "40.84.208.", "52.234.176.", "52.234.99.", "20.172.9.",
    "20.172.122.",
)
_CLIENT_PREFIXES = _HOME_PREFIXES + (
    "174.63.238.", "174.63.12.", "99.110.220.", "99.110.82.", "70.181.168.", "70.181.210.", "72.229.162.", "72.229.200.",
    "75.172.220.", "75.172.7.", "107.77.247.", "107.77.236.", "172.58.175.", "172.58.192.", "100.34.160.", "100.34.204.",
)
_SCANNER_PREFIXES = (  # hosting ranges internet-wide SSH/RDP sweeps come from
    "159.203.101.", "159.203.97.", "167.99.26.", "167.99.61.", "142.93.198.", "142.93.107.", "137.184.253.", "137.184.103.",
    "164.92.52.", "164.92.194.", "146.190.2.", "146.190.107.", "143.244.44.", "143.244.104.", "170.187.253.", "170.187.208.",
    "172.105.96.", "172.105.188.", "65.21.153.", "65.21.61.",
)
_MONITOR_PREFIXES = ("50.18.114.", "50.18.132.", "13.56.54.", "13.56.27.")

# instance kinds, in the order the estate hands them out
_KIND_CYCLE = ("web", "api", "worker", "db", "web", "api", "worker", "ci-runner", "bastion", "win")
_KIND_TYPE = {
    "web": "t3.medium", "api": "m6i.large", "worker": "c6i.xlarge", "db": "r6i.large",
    "ci-runner": "c6i.2xlarge", "bastion": "t3.micro", "win": "m5.xlarge",
}
_KIND_OS = {"web": "ubuntu", "api": "ubuntu", "worker": "al2023", "db": "ubuntu", "ci-runner": "ubuntu", "bastion": "al2023", "win": "windows"}
_ENVS = ("prod", "staging", "dev", "sandbox")

# ---------------------------------------------------------------------------------------------
# estate model


@dataclass
class Instance:
    idx: int
    acct: Account
    kind: str
    name: str
    instance_id: str
    eni: str
    private_ip: str
    public_ip: str
    subnet_id: str
    az: str
    instance_type: str
    image_id: str
    launch_time: int
    os: str
    role_name: str
    role_id: str
    profile_name: str
    profile_id: str
    sg_id: str
    sg_name: str
    reservation_id: str
    mac: str
    private_dns: str
    public_dns: str


@dataclass
class Account:
    idx: int
    account_id: str
    env: str
    vpc_id: str
    subnets: list[tuple[str, str, int]]  # subnet id, AZ, third octet of its 10.0.x.0/24
    flow_log_ids: dict[int, str]
    buckets: list[str]
    kms_key: str
    sso_suffix: str
    sso_role_id: str
    autoscaling_role_id: str
    deploy_role_id: str
    instances: list[Instance] = field(default_factory=list)
    users: list[User] = field(default_factory=list)


@dataclass
class User:
    name: str
    style: str  # cli | console | ci | terraform | sdk
    acct: Account
    user_id: str
    access_keys: list[str]
    ips: list[str]


_USER_POOL = (
    ("alice", "console"), ("bob", "cli"), ("ci-deploy", "ci"), ("terraform", "terraform"), ("carol", "cli"),
    ("grafana-reader", "sdk"), ("dave", "console"), ("backup-svc", "sdk"), ("erin", "cli"), ("frank", "console"),
    ("grace", "cli"), ("heidi", "console"),
)


@dataclass
class Estate:
    spec: EstateSpec
    accounts: list[Account]
    instances: list[Instance]
    scanners: np.ndarray  # object array of scanner source addresses (inbound noise)
    clients: np.ndarray  # object array of residential client addresses (web traffic, console users)
    internal_suffix: str

    @property
    def start(self) -> int:
        """The first second of the estate's days, as a Unix time."""
        return int(self.spec.start.timestamp())


def build_estate(spec: EstateSpec) -> Estate:
    """The accounts, instances, users and outside address pools of ``spec``, drawn from its seed."""
    if spec.days < 1:
        raise ValueError("days must be at least 1")
    if spec.start.tzinfo is None:
        raise ValueError("start must be timezone-aware (UTC)")
    # each account gets up to 16 /24 subnets in 10.0.0.0/16 and 150 instances per subnet
    if not 1 <= len(spec.account_ids) <= 15:
        raise ValueError("between 1 and 15 accounts are supported")
    if spec.instances > min(4000, 2400 * len(spec.account_ids)):
        raise ValueError("too many instances for the estate's address plan")
    rnd = random.Random(f"{spec.seed}:estate")
    region = spec.region
    internal = "ec2.internal" if region == "us-east-1" else f"{region}.compute.internal"
    used_ips: set[str] = set()

    def fresh_ip(prefixes: tuple[str, ...]) -> str:
        while True:
            ip = unlisted_ip(rnd, rnd.choice(prefixes))
            if ip not in used_ips:
                used_ips.add(ip)
                return ip

    accounts: list[Account] = []
    n_inst_per_acct = [len(range(a, spec.instances, len(spec.account_ids))) for a in range(len(spec.account_ids))]
    for a, acct_id in enumerate(spec.account_ids):
        n_sub = max(3, math.ceil(n_inst_per_acct[a] / 150))
        subnets = [(f"subnet-{hexid(rnd)}", f"{region}{'abcdef'[s % 6]}", 1 + a * 16 + s) for s in range(n_sub)]
        env = _ENVS[a % len(_ENVS)] if a < len(_ENVS) else f"env{a}"
        tail = acct_id[-4:]
        buckets = [
            f"acme-{env}-app-assets-{tail}", f"acme-{env}-app-logs-{acct_id}", f"acme-{env}-backups-{tail}",
            f"acme-terraform-state-{acct_id}", f"acme-{env}-data-lake-raw-{tail}", f"cdk-hnb659fds-assets-{acct_id}-{region}",
        ]
        accounts.append(Account(
            idx=a, account_id=acct_id, env=env, vpc_id=f"vpc-{hexid(rnd)}", subnets=subnets,
            flow_log_ids={2: f"fl-{hexid(rnd)}", 5: f"fl-{hexid(rnd)}"}, buckets=buckets,
            kms_key=f"arn:aws:kms:{region}:{acct_id}:key/{uuid_from_hex(hexid(rnd, 32))}", sso_suffix=hexid(rnd, 16),
            sso_role_id=awsid(rnd, "AROA", 17), autoscaling_role_id=awsid(rnd, "AROA", 17), deploy_role_id=awsid(rnd, "AROA", 17),
        ))

    start = int(spec.start.timestamp())
    amis = {(a.idx, os): f"ami-{hexid(rnd)}" for a in accounts for os in ("ubuntu", "al2023", "windows")}
    profiles: dict[tuple[int, str], tuple[str, str, str]] = {}
    sgs: dict[tuple[int, str], str] = {}
    hosts_used: set[tuple[int, int]] = set()
    kind_counts: dict[tuple[int, str], int] = {}
    instances: list[Instance] = []
    n_acct = len(accounts)
    for i in range(spec.instances):
        acct = accounts[i % n_acct]
        kind = _KIND_CYCLE[(i // n_acct) % len(_KIND_CYCLE)]
        kind_counts[(acct.idx, kind)] = kind_counts.get((acct.idx, kind), 0) + 1
        subnet_id, az, octet = acct.subnets[(i // n_acct) % len(acct.subnets)]
        while True:
            host = rnd.randint(4, 199)
            if (octet, host) not in hosts_used:
                hosts_used.add((octet, host))
                break
        private_ip = f"10.0.{octet}.{host}"
        public_ip = fresh_ip(_EC2_PREFIXES)
        if (acct.idx, kind) not in profiles:
            profiles[(acct.idx, kind)] = (awsid(rnd, "AROA", 17), awsid(rnd, "AIPA", 17), f"sg-{hexid(rnd)}")
        role_id, profile_id, sg_id = profiles[(acct.idx, kind)]
        sgs[(acct.idx, kind)] = sg_id
        dash_pub = public_ip.replace(".", "-")
        public_dns = f"ec2-{dash_pub}.compute-1.amazonaws.com" if region == "us-east-1" else f"ec2-{dash_pub}.{region}.compute.amazonaws.com"
        os_name = _KIND_OS[kind]
        inst = Instance(
            idx=i, acct=acct, kind=kind, name=f"{acct.env}-{kind}-{kind_counts[(acct.idx, kind)]:02d}",
            instance_id=f"i-{hexid(rnd)}", eni=f"eni-{hexid(rnd)}", private_ip=private_ip, public_ip=public_ip,
            subnet_id=subnet_id, az=az, instance_type=_KIND_TYPE[kind], image_id=amis[(acct.idx, os_name)],
            launch_time=start - rnd.randint(2 * 86400, 200 * 86400), os=os_name,
            role_name=f"{acct.env}-{kind}-instance-role", role_id=role_id,
            profile_name=f"{acct.env}-{kind}-instance-profile", profile_id=profile_id,
            sg_id=sg_id, sg_name=f"{acct.env}-{kind}-sg", reservation_id=f"r-{hexid(rnd)}",
            mac="02:" + ":".join(f"{rnd.randint(0, 255):02x}" for _ in range(5)),
            private_dns=f"ip-{private_ip.replace('.', '-')}.{internal}", public_dns=public_dns,
        )
        acct.instances.append(inst)
        instances.append(inst)

    for u in range(spec.users):
        name, style = _USER_POOL[u % len(_USER_POOL)]
        if u >= len(_USER_POOL):
            name = f"{name}{u // len(_USER_POOL) + 1}"
        acct = accounts[u % n_acct]
        if style == "ci":
            ips = [fresh_ip(_CI_PREFIXES) for _ in range(6)]
        elif style == "sdk":
            ips = [fresh_ip(_MONITOR_PREFIXES)]
        else:
            ips = [fresh_ip(_HOME_PREFIXES) for _ in range(rnd.randint(1, 3))]
        user = User(name=name, style=style, acct=acct, user_id=awsid(rnd, "AIDA", 17),
                    access_keys=[awsid(rnd, "AKIA", 16) for _ in range(rnd.randint(1, 2))], ips=ips)
        acct.users.append(user)

    scanners = np.array(sorted({unlisted_ip(rnd, rnd.choice(_SCANNER_PREFIXES)) for _ in range(1500)} - used_ips), dtype=object)
    clients = np.array(sorted({unlisted_ip(rnd, rnd.choice(_CLIENT_PREFIXES)) for _ in range(4000)} - used_ips), dtype=object)
    return Estate(spec=spec, accounts=accounts, instances=instances, scanners=scanners, clients=clients,
                  internal_suffix=internal)
