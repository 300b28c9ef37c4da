"""Sort provider errors into the two kinds the dispatcher knows."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from lifecycle.messaging.errors import PermanentError, TransientError
from lifecycle.privacy import redact

# Errors where retrying the same request cannot succeed. Everything else (throttling, 5xx,
# timeouts, and account or configuration problems ops can fix) is retried and, once retries
# run out, parked in the dead-letter queue: nothing is dropped because of a setup mistake.
PERMANENT_CODES = frozenset(
    {
        "MessageRejected",
        "BadRequestException",
        "InvalidParameterValue",
        "InvalidParameter",
        "InvalidParameterException",
        "ParameterValueInvalid",
    }
)


def classify(error: Exception, provider: str) -> PermanentError | TransientError:
    """Wrap a boto3 error; the reason is redacted because providers echo addresses back."""
    if isinstance(error, ClientError):
        code = str(error.response.get("Error", {}).get("Code", "Unknown"))
        message = redact(str(error.response.get("Error", {}).get("Message", "")))
        reason = f"{provider} {code}: {message}".rstrip(": ")
        if code in PERMANENT_CODES:
            return PermanentError(reason)
        return TransientError(reason)
    if isinstance(error, BotoCoreError):
        return TransientError(f"{provider} {type(error).__name__}")
    return TransientError(f"{provider} {type(error).__name__}")
