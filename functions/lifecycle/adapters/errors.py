"""Sort provider errors into the two kinds the dispatcher knows."""

from __future__ import annotations

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ReadTimeoutError,
)

from lifecycle.messaging.errors import PermanentError, TransientError
from lifecycle.privacy import redact

# Errors where retrying the same request cannot succeed. Everything else (throttling, 5xx,
# timeouts, and account or configuration problems ops can fix) is retried and, once retries
# run out, parked in the dead-letter queue: nothing is dropped because of a setup mistake.
PERMANENT_CODES = frozenset(
    {
        "MessageRejected",  # except for unverified identities, see below
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
        # SES says MessageRejected for an unverified sender and, in the sandbox, recipient:
        # a setup problem ops fix, after which the parked records can be replayed.
        setup = code == "MessageRejected" and "not verified" in message.lower()
        if code in PERMANENT_CODES and not setup:
            return PermanentError(reason)
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        return TransientError(reason, ambiguous=status >= 500)
    name = f"{provider} {type(error).__name__}"
    if isinstance(error, ReadTimeoutError | ConnectionClosedError):
        # The request went out; the provider may have accepted it.
        return TransientError(name, ambiguous=True)
    if isinstance(error, BotoCoreError):
        return TransientError(name)
    return TransientError(name, ambiguous=True)
