"""Which CloudTrail APIs belong to which tactic class of the IAM AnomalousBehavior types.

From two sources, the first winning where they differ:
* GuardDuty's own examples per class (the finding-type documentation; reference §1b);
* TrailDiscover by Adan Alvarez (CC BY 4.0, traildiscover.cloud, commit f96cbdb): the CloudTrail events
  attackers have been seen using, with their MITRE ATT&CK tactics. An event with several tactics is
  put in the most specific class, in ``PRIORITY`` order (CreateAccessKey: Persistence, not
  PrivilegeEscalation). Execution, Lateral Movement and Collection have no GuardDuty class and are left out.

* Trailhound's additions (``ADDITIONS``): APIs neither source names, classed by what they do — deleting
  Route 53 Resolver query logging is defense evasion like deleting flow logs; an IAM Roles Anywhere trust
  anchor lets an outside CA obtain role credentials (persistence).

``classify`` refines the class of one call where the API alone does not say it:
* resetting **another** user's console password (``UpdateLoginProfile`` with a ``userName`` not the
  caller's) takes that identity over — PrivilegeEscalation; one's own is Persistence as listed;
* ``RunInstances`` of accelerated or very large instances (GPU, Inferentia/Trainium, FPGA, memory-huge,
  bare metal, ≥ 24xlarge) is the Trailhound extension class ``InstanceLaunch``, its family the API value
  learned (``RunInstances(p3)``): resource hijacking, which GuardDuty's retired ComputeResources type judged;
* an ingress rule open to the whole internet (``AuthorizeSecurityGroupIngress`` from a ``/0`` range) exposes
  what the group guards to anyone, as making a snapshot or image public does — Exfiltration, the class Stratus
  Red Team files it under; a rule for a named range stays Persistence as listed;
* the extension classes GuardDuty has none for (Stratus execution and lateral movement): SSM Run Command
  (``RunCommand``), EC2 Instance Connect (``InstanceConnect``) and the EC2 serial console (``SerialConsole``).

S3 data events are judged by the S3 types, not here.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

PRIORITY = ("CredentialAccess", "Persistence", "PrivilegeEscalation", "DefenseEvasion", "Exfiltration", "Impact", "InitialAccess", "Discovery")

# GuardDuty's examples (reference §1b): where TrailDiscover classes them otherwise, these win
GUARDDUTY_EXAMPLES = {
    "GetPasswordData": "CredentialAccess", "GetSecretValue": "CredentialAccess", "BatchGetSecretValue": "CredentialAccess",
    "GenerateDbAuthToken": "CredentialAccess",
    "DeleteFlowLogs": "DefenseEvasion", "DisableAlarmActions": "DefenseEvasion", "StopLogging": "DefenseEvasion",
    "DescribeInstances": "Discovery", "GetRolePolicy": "Discovery", "ListAccessKeys": "Discovery",
    "PutBucketReplication": "Exfiltration", "CreateSnapshot": "Exfiltration", "RestoreDBInstanceFromDBSnapshot": "Exfiltration",
    "DeleteSecurityGroup": "Impact", "UpdateUser": "Impact", "PutBucketPolicy": "Impact",
    "StartSession": "InitialAccess", "GetAuthorizationToken": "InitialAccess", "GetFederationToken": "InitialAccess",
    "CreateAccessKey": "Persistence", "ImportKeyPair": "Persistence", "ModifyInstanceAttribute": "Persistence",
    "AssociateIamInstanceProfile": "PrivilegeEscalation", "AddUserToGroup": "PrivilegeEscalation", "PutUserPolicy": "PrivilegeEscalation",
}

# TrailDiscover's events by class (generated from its events.json with PRIORITY; GetObject/PutObject/DeleteObject/HeadObject
# are S3 data events and left to the S3 types)
TRAILDISCOVER: dict[str, tuple[str, ...]] = {
    "CredentialAccess": tuple("""
        DescribeSecret GetAuthorizationToken GetFunctionConfiguration20150331v2 GetParameters GetPasswordData GetSecretValue
        ListSecrets ModifyDBInstance
    """.split()),
    "Persistence": tuple("""
        AcceptAgreementRequest AddMemberToGroup AddPermission20150331v2 AssumeRole AttachUserPolicy
        AuthorizeSecurityGroupIngress ChangePassword CreateAccessKey CreateAccountAssignment CreateApi CreateApiKey
        CreateDefaultVpc CreateFunction20150331 CreateFunctionUrlConfig CreateGroup CreateIntegration CreateKeyPair
        CreateLoginProfile CreateNetworkAclEntry CreateOpenIDConnectProvider CreateRole CreateRoute CreateSAMLProvider
        CreateSecurityGroup CreateServiceLinkedRole CreateStage CreateUser GetFederationToken ImportKeyPair PutRule PutTargets
        PutUserPolicy RunInstances StartInstances StartSSO UpdateAccessKey UpdateAssumeRolePolicy UpdateFunctionCode20150331v2
        UpdateFunctionConfiguration20150331v2 UpdateGraphqlApi UpdateLoginProfile UpdateResolver UpdateSAMLProvider
        UpdateSsoConfiguration
    """.split()),
    "PrivilegeEscalation": tuple("""
        AddRoleToInstanceProfile AddUserToGroup AssociateAccessPolicy AttachGroupPolicy AttachRolePolicy CreateAccessEntry
        CreateDevEndpoint CreateEventSourceMapping20150331 CreateGroup CreateJob CreatePolicy CreatePolicyVersion
        DeleteRolePermissionsBoundary DeleteRolePolicy DeleteUserPermissionsBoundary DeleteUserPolicy DetachRolePolicy
        DetachUserPolicy GetCredentialsForIdentity GetId Invoke ModifyInstanceAttribute PutGroupPolicy
        PutRolePermissionsBoundary PutRolePolicy PutUserPermissionsBoundary ReplaceIamInstanceProfileAssociation
        SetDefaultPolicyVersion UpdateDevEndpoint UpdateEventSourceMapping20150331 UpdateJob
    """.split()),
    "DefenseEvasion": tuple("""
        AuthorizeDBSecurityGroupIngress CreateAccount CreateCase CreateFilter CreateIPSet CreateInstances CreateLogStream
        CreateRule DeactivateMFADevice DeleteAccessKey DeleteAlarms DeleteBucketPolicy DeleteConfigRule
        DeleteConfigurationRecorder DeleteDeliveryChannel DeleteDetector DeleteFlowLogs DeleteIdentity DeleteInvitations
        DeleteLogGroup DeleteLogStream DeleteLoginProfile DeleteMembers DeleteNetworkAcl DeleteNetworkAclEntry
        DeletePublishingDestination DeleteRule DeleteRuleGroup DeleteTrail DeleteUser DeleteWebACL DisableRule
        DisassociateFromMasterAccount DisassociateMembers InviteAccountToOrganization LeaveOrganization ModifyActivityStream
        PutAccountDetails PutEventSelectors PutLogEvents RemoveTargets StopConfigurationRecorder StopInstances StopLogging
        StopMonitoringMembers TerminateInstances UpdateDetector UpdateIPSet UpdateTrail
    """.split()),
    "Exfiltration": tuple("""
        AuthorizeSecurityGroupEgress BatchGetImage CreateDBSecurityGroup CreateDBSnapshot CreateImage CreateInstanceExportTask
        CreateServer CreateSnapshot CreateUser GetObject JobCreated ModifyDBSnapshotAttribute ModifyImageAttribute
        ModifySnapshotAttribute PutBucketAcl PutBucketPolicy PutBucketReplication PutBucketVersioning
        SharedSnapshotCopyInitiated SharedSnapshotVolumeCreated StartExportTask
    """.split()),
    "Impact": tuple("""
        ChangeResourceRecordSets CreateAutoScalingGroup CreateCluster CreateEmailIdentity CreateFoundationModelAgreement
        CreateHostedZone CreateKey CreateLaunchTemplate CreateService CreateStack DeleteBucket DeleteDBCluster
        DeleteDBInstance DeleteFileSystem DeleteGlobalCluster DeleteMountTarget DeleteObject DeleteSnapshot DeleteVolume
        Encrypt GenerateDataKeyWithoutPlaintext InvokeModel InvokeModelWithResponseStream Publish PurgeQueue
        PutBucketEncryption PutBucketLifecycle PutFoundationModelEntitlement PutKeyPolicy PutObject PutUseCaseForModelAccess
        RegisterDomain RegisterTaskDefinition RequestServiceQuotaIncrease ScheduleKeyDeletion UpdateAccountSendingEnabled
        VerifyEmailIdentity
    """.split()),
    "InitialAccess": tuple("""
        AssumeRoleWithSAML AssumeRoleWithWebIdentity ConsoleLogin GetSessionToken GetSigninToken PasswordRecoveryRequested
    """.split()),
    "Discovery": tuple("""
        DescribeAccessEntry DescribeAccountAttributes DescribeAlarms DescribeAlarmsForMetric DescribeAvailabilityZones
        DescribeBlueGreenDeployments DescribeBundleTasks DescribeCarrierGateways DescribeClientVpnRoutes DescribeCluster
        DescribeDBClusters DescribeDBEngineVersions DescribeDBInstances DescribeDBProxies DescribeDBSnapshots
        DescribeDBSubnetGroups DescribeDhcpOptions DescribeEventAggregates DescribeEvents DescribeExportTasks DescribeFlowLogs
        DescribeGlobalClusters DescribeHosts DescribeImages DescribeInstanceAttribute DescribeInstanceInformation
        DescribeInstanceStatus DescribeInstanceTypes DescribeInstances DescribeInternetGateways DescribeKey DescribeKeyPairs
        DescribeLaunchTemplates DescribeListeners DescribeLoadBalancers DescribeLogGroups DescribeLogStreams
        DescribeNetworkInterfaces DescribeOrderableDBInstanceOptions DescribeOrganization DescribePendingMaintenanceActions
        DescribeRegions DescribeRepositories DescribeRouteTables DescribeSecurityGroups DescribeSnapshotAttribute
        DescribeSnapshotTierStatus DescribeSnapshots DescribeSubnets DescribeSubscriptionFilters DescribeTags
        DescribeTransitGatewayMulticastDomains DescribeValidDBInstanceModifications DescribeVolumeStatus DescribeVolumes
        DescribeVolumesModifications DescribeVpcEndpointConnectionNotifications DescribeVpcs GetAccount
        GetAccountAuthorizationDetails GetAccountSendingEnabled GetBucketAccelerateConfiguration GetBucketAcl
        GetBucketLifecycle GetBucketLocation GetBucketLogging GetBucketOwnershipControls GetBucketPolicy GetBucketReplication
        GetBucketRequestPayment GetBucketTagging GetBucketVersioning GetCallerIdentity GetCertificate GetConsoleScreenshot
        GetCostAndUsage GetCostForecast GetDetector GetEbsDefaultKmsKeyId GetEbsEncryptionByDefault GetFindings
        GetFlowLogsIntegrationTemplate GetFoundationModelAvailability GetFunction20150331v2 GetHostedZoneCount
        GetIdentityVerificationAttributes GetInstances GetIntrospectionSchema GetKnowledgeBase GetLaunchTemplateData
        GetListingView GetLogRecord GetLoginProfile GetModelInvocationLoggingConfiguration GetObjectLockConfiguration
        GetPublicAccessBlock GetQueryResults GetRegions GetSMSAttributes GetSMSSandboxAccountStatus GetSendQuota
        GetServiceQuota GetTransitGatewayRouteTableAssociations GetUseCaseForModelAccess GetUser HeadObject IssueCertificate
        ListAccessKeys ListAccessPolicies ListAccountAliases ListAccounts ListAgents ListApplications
        ListAssociatedAccessPolicies ListAttachedRolePolicies ListAttachedUserPolicies ListBuckets ListClusters
        ListCollections ListCustomModels ListDetectors ListDomains ListEmailIdentities ListEndpoints ListFindings
        ListFoundationModelAgreementOffers ListFoundationModels ListFunctions20150331 ListGroups ListGroupsForUser ListIPSets
        ListIdentities ListInferenceProfiles ListInstanceProfiles ListKnowledgeBases ListModelInvocationJobs ListModels
        ListObjects ListOpenIDConnectProviders ListOrganizationalUnitsForParent ListOriginationNumbers
        ListProvisionedModelThroughputs ListRolePolicies ListRoles ListRules ListSAMLProviders ListSSHPublicKeys
        ListServiceQuotas ListServiceSpecificCredentials ListSigningCertificates ListSubscriptions ListTargetsByRule
        ListTopics ListTrainingJobs ListUserPolicies ListUsers ListVaults LookupEvents Search SearchAgreements
        SimulatePrincipalPolicy
    """.split()),
}

_DATA_EVENTS = frozenset({"GetObject", "PutObject", "DeleteObject", "HeadObject"})
CLASS_OF: dict[str, str] = {api: cls for cls in reversed(PRIORITY) for api in TRAILDISCOVER[cls] if api not in _DATA_EVENTS}
CLASS_OF.update(GUARDDUTY_EXAMPLES)

# Trailhound's additions: APIs neither GuardDuty's examples nor TrailDiscover class
ADDITIONS = {
    "DeleteResolverQueryLogConfig": "DefenseEvasion", "DisassociateResolverQueryLogConfig": "DefenseEvasion",
    "DeleteModelInvocationLoggingConfiguration": "DefenseEvasion", "CreateTrustAnchor": "Persistence",
}
for _api, _cls in ADDITIONS.items():
    CLASS_OF.setdefault(_api, _cls)

# Trailhound extension classes (no GuardDuty type): API -> class
EXTENSION_OF = {"SendCommand": "RunCommand", "SendSSHPublicKey": "InstanceConnect",
                "SendSerialConsoleSSHPublicKey": "SerialConsole", "EnableSerialConsoleAccess": "SerialConsole"}
LAUNCHES = frozenset({"RunInstances", "RequestSpotInstances", "CreateFleet", "RunScheduledInstances"})
# accelerated (GPU, Inferentia, Trainium, Gaudi, FPGA, video), memory-huge and high-memory families
_COSTLY = re.compile(r"^(p\d|g\d|inf\d|trn\d|dl\d|f\d|vt\d|x\d|u\d*-|u-)", re.I)
_SIZE = re.compile(r"\.(\d+)xlarge$")


FLEET_OF_LARGE = (8, 10)  # ten or more instances of 8xlarge or more in one call: hundreds of cores, as miners rent them


def costly_instance_type(itype: str, count: int = 1) -> bool:
    size = _SIZE.search(itype)
    sized = int(size.group(1)) if size is not None else 0
    return (bool(_COSTLY.match(itype)) or itype.endswith(".metal") or sized >= 24
            or (sized >= FLEET_OF_LARGE[0] and count >= FLEET_OF_LARGE[1]))


def launch_count(params: dict[str, Any]) -> int:
    """How many instances a launch asks for at most (RunInstances' ``instancesSet`` items, a spot request's ``instanceCount``)."""
    count = 0
    items = params.get("instancesSet")
    for item in (items.get("items") or ()) if isinstance(items, dict) else ():
        if isinstance(item, dict):
            n = item.get("maxCount", item.get("minCount", 1))
            count += n if isinstance(n, int) and not isinstance(n, bool) else 1
    spot = params.get("instanceCount")
    return max(count, spot if isinstance(spot, int) and not isinstance(spot, bool) else 1)


def _world(cidr: Any) -> bool:
    return isinstance(cidr, str) and cidr.rpartition("/")[2] == "0"


WEB_PORTS = frozenset({80, 443})  # what a public load balancer or web server is opened to the world on


def _web_only(perm: dict[str, Any]) -> bool:
    """Whether a permission opens TCP ports 80 or 443 alone (a public web service), not a console, a database or every port."""
    low, high = perm.get("fromPort"), perm.get("toPort")
    return str(perm.get("ipProtocol")).lower() in ("tcp", "6") and isinstance(low, int) and low == high and low in WEB_PORTS


def opens_to_world(params: dict[str, Any]) -> bool:
    """Whether an ingress request allows any address to anything but a web port: the short form's ``cidrIp``/``cidrIpv6``,
    or a range in ``ipPermissions`` (CloudTrail's ``{"items": [...]}`` lists). A public load balancer's 443 is its job."""
    if (_world(params.get("cidrIp")) or _world(params.get("cidrIpv6"))) and not _web_only(params):
        return True
    perms = params.get("ipPermissions")
    for perm in (perms.get("items") or ()) if isinstance(perms, dict) else ():
        if not isinstance(perm, dict) or _web_only(perm):
            continue
        for field, key in (("ipRanges", "cidrIp"), ("ipv6Ranges", "cidrIpv6")):
            ranges = perm.get(field)
            for r in (ranges.get("items") or ()) if isinstance(ranges, dict) else ():
                if isinstance(r, dict) and _world(r.get(key)):
                    return True
    return False


# Granting a principal a policy that allows everything: privilege escalation, whatever class the API is listed under
POLICY_GRANTS = frozenset({"AttachUserPolicy", "AttachGroupPolicy", "AttachRolePolicy", "PutUserPolicy", "PutGroupPolicy", "PutRolePolicy"})
ADMIN_POLICIES = ("/AdministratorAccess", "/IAMFullAccess", "/PowerUserAccess")
# the calls ``classify`` refines by their parameters (or the caller's name): no two of them are alike by name alone
PARAMETRIC = LAUNCHES | POLICY_GRANTS | {"UpdateLoginProfile", "AuthorizeSecurityGroupIngress", "AssumeRole", "PutKeyPolicy"}
# Impact APIs that build (TrailDiscover lists them for resource hijacking: keys, stacks, clusters and services to run a miner
# on): every deployment makes them, so only from somewhere the identity never was (a new country, an anonymizing network)
# (and a key's policy that names no other account, and an egress rule: Terraform writes both for every key and security group)
BUILDS = frozenset({"CreateKey", "CreateStack", "CreateCluster", "CreateService", "CreateLaunchTemplate", "RegisterTaskDefinition",
                    "CreateAutoScalingGroup", "CreateHostedZone", "ChangeResourceRecordSets", "Encrypt", "GenerateDataKeyWithoutPlaintext",
                    "Publish", "PutKeyPolicy(own account)", "AuthorizeSecurityGroupEgress"})


def grants_everything(params: dict[str, Any]) -> bool:
    """An AWS-managed administrator policy attached, or an inline policy allowing every action on every resource."""
    arn = params.get("policyArn")
    if isinstance(arn, str):
        return arn.endswith(ADMIN_POLICIES)
    doc = params.get("policyDocument")
    if isinstance(doc, str):
        try:
            doc = msgspec.json.decode(doc)
        except msgspec.DecodeError:
            return False
    statements = doc.get("Statement") if isinstance(doc, dict) else None
    for st in statements if isinstance(statements, list) else [statements]:
        if isinstance(st, dict) and st.get("Effect") == "Allow":
            actions, resources = st.get("Action"), st.get("Resource")
            if "*" in (actions if isinstance(actions, list) else [actions]) and "*" in (resources if isinstance(resources, list) else [resources]):
                return True
    return False


def classify(e: Any) -> tuple[str | None, str]:
    """(class, the API value learned) of one CloudTrail call: the class its API is listed under, refined."""
    name = e.event_name
    ext = EXTENSION_OF.get(name)
    if ext is not None:
        return ext, name
    if name in LAUNCHES:
        params = e.params()
        itype = params.get("instanceType") or (params.get("launchSpecification") or {}).get("instanceType")
        if isinstance(itype, str) and costly_instance_type(itype, launch_count(params)):
            return "InstanceLaunch", f"{name}({itype.split('.', 1)[0].lower()})"
    elif name == "AuthorizeSecurityGroupIngress":
        if opens_to_world(e.params()):
            return "Exfiltration", name
    elif name in POLICY_GRANTS:
        if grants_everything(e.params()):
            return "PrivilegeEscalation", name
    elif name == "AssumeRole":
        # a role of the caller's own account is how its people and tools work (CDK's deploy roles, a CI role's hop); its
        # session is profiled as that role. Another account's role is a way out (or in) that persists.
        arn = e.params().get("roleArn")
        if isinstance(arn, str) and names_only_own_account(arn, _own_account(e)):
            return None, name
    elif name == "PutKeyPolicy":
        policy = e.params().get("policy")
        if isinstance(policy, str) and names_only_own_account(policy, _own_account(e)):
            return CLASS_OF.get(name), f"{name}(own account)"
    elif name == "UpdateLoginProfile":
        target = e.params().get("userName")
        if isinstance(target, str) and target != e.user_identity.user_name:
            return "PrivilegeEscalation", name
    elif name in ("PutBucketVersioning", "PutBucketEncryption", "PutBucketPolicy", "PutBucketAcl") and protects(e):
        return None, name  # a bucket's hardening (a Terraform module's first apply): versioning, encryption, a lock-down
    return CLASS_OF.get(name), name


def protects(e: Any) -> bool:
    """Versioning enabled (not suspended, MFA delete kept), default encryption with S3's keys or the account's own KMS
    key, or a policy or ACL that lets no one new in: what attackers do is the opposite (suspend versioning before
    deleting, encrypt with a key of their account, open the bucket)."""
    if e.event_name in ("PutBucketPolicy", "PutBucketAcl"):
        from trailhound.detectors.s3_anomalous import restricts  # (it reads the bucket rules' policy parser)

        return restricts(e)
    params = e.params()
    if e.event_name == "PutBucketVersioning":
        config = params.get("VersioningConfiguration")
        return isinstance(config, dict) and config.get("Status") == "Enabled" and config.get("MfaDelete") not in ("Disabled",)
    text = str(params.get("ServerSideEncryptionConfiguration") or "")
    if not text or "SSEAlgorithm" not in text:
        return False
    return names_only_own_account(text, _own_account(e))


_ACCOUNT_IN = re.compile(r"(?<!\d)(\d{12})(?!\d)")


def _own_account(e: Any) -> str | None:
    return e.recipient_account_id or e.user_identity.account_id  # type: ignore[no-any-return]


def names_only_own_account(text: str, own: str | None) -> bool:
    """Every 12-digit account number in ``text`` (a policy, a key's ARN) is ``own``: nothing is granted to or kept by another account."""
    return all(account == own for account in _ACCOUNT_IN.findall(text))
