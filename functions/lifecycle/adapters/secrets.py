"""Secrets Manager adapter: the link signing key."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient


def secret_bytes(client: SecretsManagerClient, secret_id: str) -> Callable[[], bytes]:
    """A key source reading the secret on first use (callers cache the result)."""

    def read() -> bytes:
        return client.get_secret_value(SecretId=secret_id)["SecretString"].encode()

    return read
