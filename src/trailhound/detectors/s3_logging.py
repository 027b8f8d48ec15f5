"""Stealth:S3/ServerAccessLoggingDisabled — server access logging was turned off for a bucket.

Without access logs there is no record of who read or wrote the bucket's objects. CloudTrail
records PutBucketLogging with an empty ``BucketLoggingStatus`` when logging is disabled.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from trailhound.engine import FindingType, Rule, severity
from trailhound.events import ApiCall, Source
from trailhound.findings.build import api_occurrence, bucket_resource
from trailhound.findings.model import LOW, Occurrence

if TYPE_CHECKING:
    from trailhound.simulator.records import Case

TYPE = "Stealth:S3/ServerAccessLoggingDisabled"


class ServerAccessLoggingDisabled(Rule):
    name = "s3-server-access-logging-disabled"
    consumes = Source.CLOUDTRAIL
    findings = (FindingType(TYPE, severity(LOW), "TA0005 Defense Evasion", "T1562.008 Disable or Modify Cloud Logs",
                            "`PutBucketLogging` without `LoggingEnabled`"),)
    event_names = frozenset({"PutBucketLogging"})

    def match(self, e: ApiCall) -> Occurrence | None:
        if e.error_code or e.event_source != "s3.amazonaws.com":
            return None
        params = e.params()
        status = params.get("BucketLoggingStatus")
        if not isinstance(status, dict) or status.get("LoggingEnabled"):
            return None  # enabled, or a record that does not say (redacted parameters): no evidence of disabling
        bucket = str(params.get("bucketName") or "unknown")
        return api_occurrence(
            e,
            TYPE,
            self.severity(TYPE),
            f"S3 server access logging was disabled for bucket {bucket}.",
            f"{e.user_identity.name} disabled server access logging for the S3 bucket {bucket}. "
            "This can be an attempt to hide access to the bucket's data.",
            resource=bucket_resource(e, bucket),
            resource_key=bucket,
            affected={"AWS::S3::Bucket": bucket},
        )


def cases(start: datetime, account: str = "111122223333") -> list[Case]:
    from trailhound.simulator.records import Case, bucket_params, every, iam_user, record

    s3, bucket, s3p = "s3.amazonaws.com", "finance-reports", bucket_params
    mallory = iam_user(account, "mallory")
    t = every(start, 3)
    xmlns = "http://s3.amazonaws.com/doc/2006-03-01/"
    return [
        Case("bucket-logging-disabled", TYPE, record("PutBucketLogging", s3, time=next(t), account=account, identity=mallory,
                                                     params=s3p(logging="", BucketLoggingStatus={"xmlns": xmlns}))),
        Case("bucket-logging-unstated", None, record("PutBucketLogging", s3, time=next(t), account=account, params=s3p())),
        Case("bucket-logging-enabled", None, record("PutBucketLogging", s3, time=next(t), account=account, params=s3p(
            logging="", BucketLoggingStatus={"xmlns": xmlns, "LoggingEnabled": {"TargetBucket": "access-logs", "TargetPrefix": f"{bucket}/"}}))),
    ]
