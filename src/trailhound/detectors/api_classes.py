"""Which CloudTrail APIs belong to which tactic class of the IAM AnomalousBehavior types.

From two sources, the first winning where they differ:
* GuardDuty's own examples per class (the finding-type documentation; reference §1b);
* TrailDiscover by Adan Alvarez (CC BY 4.0, traildiscover.cloud, commit f96cbdb): the CloudTrail events
  attackers have been seen using, with their MITRE ATT&CK tactics. An event with several tactics is
  put in the most specific class, in ``PRIORITY`` order (CreateAccessKey: Persistence, not
  PrivilegeEscalation). Execution, Lateral Movement and Collection have no GuardDuty class and are left out.

S3 data events are judged by the S3 types, not here.
"""

from __future__ import annotations

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
