"""Amazon SNS adapter: the only code that sends SMS."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from lifecycle.adapters.errors import classify
from lifecycle.messaging.channels import OutboundSms
from lifecycle.messaging.errors import PermanentError

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sns.type_defs import MessageAttributeValueTypeDef

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


class SnsSmsSender:
    def __init__(self, client: SNSClient, sender_id: str | None = None) -> None:
        self._client = client
        self._sender_id = sender_id

    def send(self, sms: OutboundSms) -> str:
        """Publish one SMS; Transactional for service and order messages, else Promotional."""
        if not _E164.match(sms.phone):
            raise PermanentError("phone number is not in E.164 form")
        attributes: dict[str, MessageAttributeValueTypeDef] = {
            "AWS.SNS.SMS.SMSType": {
                "DataType": "String",
                "StringValue": "Promotional" if sms.marketing else "Transactional",
            }
        }
        if self._sender_id:
            attributes["AWS.SNS.SMS.SenderID"] = {
                "DataType": "String",
                "StringValue": self._sender_id,
            }
        try:
            response = self._client.publish(
                PhoneNumber=sms.phone, Message=sms.text, MessageAttributes=attributes
            )
        except Exception as exc:
            raise classify(exc, "SNS") from None
        return str(response["MessageId"])

    def is_opted_out(self, phone: str) -> bool:
        """SNS's own list of numbers that replied STOP (checked before every SMS)."""
        try:
            response = self._client.check_if_phone_number_is_opted_out(phoneNumber=phone)
        except Exception as exc:
            raise classify(exc, "SNS") from None
        return bool(response["isOptedOut"])


class SnsTopicAlerts:
    """Alerts for people (the complaints topic): plain text to every subscriber."""

    def __init__(self, client: SNSClient, topic_arn: str) -> None:
        self._client = client
        self._topic_arn = topic_arn

    def publish(self, subject: str, text: str, attributes: dict[str, str]) -> str:
        """Publish one alert; `attributes` let subscribers filter (by rating, say)."""
        try:
            response = self._client.publish(
                TopicArn=self._topic_arn,
                Subject=subject[:100],
                Message=text,
                MessageAttributes={
                    name: {"DataType": "String", "StringValue": value}
                    for name, value in attributes.items()
                },
            )
        except Exception as exc:
            raise classify(exc, "SNS") from None
        return str(response["MessageId"])
