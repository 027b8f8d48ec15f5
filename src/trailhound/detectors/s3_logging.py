"""Stealth:S3/ServerAccessLoggingDisabled — server access logging was turned off for a bucket.

Without access logs there is no record of who read or wrote the bucket's objects. CloudTrail
records PutBucketLogging with an empty ``BucketLoggingStatus`` when logging is disabled.
"""

from __future__ import annotations

from trailhound.detectors.base import Rule, api_occurrence, bucket_resource
from trailhound.events import ApiCall, Source
from trailhound.findings.model import LOW, Occurrence


class ServerAccessLoggingDisabled(Rule):
    name = "s3-server-access-logging-disabled"
    consumes = Source.CLOUDTRAIL
    finding_types = ("Stealth:S3/ServerAccessLoggingDisabled",)
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
            "Stealth:S3/ServerAccessLoggingDisabled",
            LOW,
            f"S3 server access logging was disabled for bucket {bucket}.",
            f"{e.user_identity.name} disabled server access logging for the S3 bucket {bucket}. "
            "This can be an attempt to hide access to the bucket's data.",
            resource=bucket_resource(e, bucket),
            resource_key=bucket,
            affected={"AWS::S3::Bucket": bucket},
        )
