"""DefenseEvasion:IAMUser/BedrockLoggingDisabled — Amazon Bedrock model-invocation logging was deleted.

Without it, prompts and completions of a hijacked model (LLMjacking) leave no record; attackers turn it
off before they use stolen credentials on Bedrock. Only a successful call counts: a refused one changed nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from trailhound.engine import FindingType, Rule, severity
from trailhound.events import ApiCall, Source
from trailhound.findings.build import api_occurrence
from trailhound.findings.model import MEDIUM, Occurrence

if TYPE_CHECKING:
    from trailhound.simulator.records import Case

TYPE = "DefenseEvasion:IAMUser/BedrockLoggingDisabled"
DELETE = "DeleteModelInvocationLoggingConfiguration"


class BedrockLoggingDisabled(Rule):
    name = "bedrock-logging-disabled"
    consumes = Source.CLOUDTRAIL
    event_names = frozenset({DELETE})
    findings = (FindingType(TYPE, severity(MEDIUM), "TA0005 Defense Evasion", "T1562.008 Disable or Modify Cloud Logs",
                            f"successful `{DELETE}` on Amazon Bedrock"),)

    def match(self, e: ApiCall) -> Occurrence | None:
        if e.error_code or e.event_name != DELETE or e.event_source != "bedrock.amazonaws.com":
            return None
        return api_occurrence(
            e, TYPE, self.severity(TYPE),
            f"Amazon Bedrock model invocation logging was disabled in {e.aws_region}.",
            f"The API {DELETE} was invoked by {e.user_identity.name} ({e.user_identity.type}) from {e.source_ip}: Bedrock stops "
            f"recording model invocations in {e.aws_region}, which hides abuse of its models.",
            affected={"AWS::Bedrock::ModelInvocationLogging": e.aws_region},
        )


def cases(start: datetime, account: str = "111122223333") -> list[Case]:
    from trailhound.simulator.records import Case, iam_user, record

    br = "bedrock.amazonaws.com"
    mallory = iam_user(account, "llm-mallory")
    t = iter(start + timedelta(minutes=3 * i) for i in range(100))
    return [
        Case("bedrock-logging-deleted", TYPE, record(DELETE, br, time=next(t), account=account, identity=mallory, region="us-west-2")),
        Case("bedrock-logging-delete-denied", None, record(DELETE, br, time=next(t), account=account, identity=mallory,
                                                           error_code="AccessDeniedException")),
        # setting (or reading) the configuration keeps logging on
        Case("bedrock-logging-configured", None, record("PutModelInvocationLoggingConfiguration", br, time=next(t), account=account,
                                                        params={"loggingConfig": {"textDataDeliveryEnabled": True}})),
        Case("bedrock-logging-read", None, record("GetModelInvocationLoggingConfiguration", br, time=next(t), account=account)),
    ]
