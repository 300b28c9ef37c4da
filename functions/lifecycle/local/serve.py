"""`lifecycle serve`: the preference centre on a local HTTP server, over the same handler code.

Each HTTP request becomes the Lambda Function URL event (payload version 2.0) that AWS would
deliver, goes through the preference centre's handler
(`lifecycle.stages.subscribers.preference_centre.handler`), and its response is written back.
Everything behind it (tables, the signing key in Secrets Manager) is moto in-process.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import boto3
from boto3.dynamodb.types import TypeSerializer

from lifecycle.local.stack import REGION, LocalContext, LocalStack
from lifecycle.stages.subscribers.preference_centre import centre as preference_centre

FUNCTION = "PreferencesFunction"
_LOCK = threading.Lock()  # moto and the cached runtime are shared: one request at a time


def function_url_event(
    method: str, target: str, headers: dict[str, str], body: bytes | None
) -> dict[str, Any]:
    """The event AWS delivers for an HTTP request to a Function URL."""
    parts = urlsplit(target)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": parts.path or "/",
        "rawQueryString": parts.query,
        "headers": {k.lower(): v for k, v in headers.items()},
        "requestContext": {
            "http": {
                "method": method,
                "path": parts.path or "/",
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": headers.get("User-Agent", ""),
            },
            "requestId": "local",
            "stage": "$default",
            "timeEpoch": 0,
        },
        "isBase64Encoded": bool(body),
    }
    if query:
        event["queryStringParameters"] = query
    if body:
        event["body"] = base64.b64encode(body).decode("ascii")
    return event


class PreferenceServer:
    """A running local preference centre; `url_for` makes links as senders would."""

    def __init__(
        self,
        stack: LocalStack,
        host: str = "127.0.0.1",
        port: int = 0,
        function: str = FUNCTION,
        path: str = "/preferences",
    ) -> None:
        self.stack = stack
        self.spec = stack.function(function)
        handler_class = self._handler_class()
        self.httpd = ThreadingHTTPServer((host, port), handler_class)
        self.base = f"http://{host}:{self.httpd.server_address[1]}{path}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url_for(self, customer_id: str, topic: str | None) -> str:
        with self.stack.environment_of(self.spec):
            signer = preference_centre().signer
            return f"{self.base}?t={signer.token(customer_id, topic)}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._forward("GET")

            def do_POST(self) -> None:
                self._forward("POST")

            def _forward(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                event = function_url_event(method, self.path, dict(self.headers.items()), body)
                with _LOCK, server.stack.environment_of(server.spec):
                    response = server.spec.load()(event, LocalContext.for_function(server.spec))
                payload = response.get("body") or ""
                data = (
                    base64.b64decode(payload)
                    if response.get("isBase64Encoded")
                    else payload.encode("utf-8")
                )
                self.send_response(int(response.get("statusCode", 200)))
                for name, value in (response.get("headers") or {}).items():
                    self.send_header(name, str(value))
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return  # URLs carry tokens: keep them off the terminal

        return Handler


def seed(stack: LocalStack, customers: list[dict[str, Any]]) -> None:
    """Some customers to manage (the stack already holds its generated signing key)."""
    table = boto3.client("dynamodb", region_name=REGION)
    serializer = TypeSerializer()
    for customer in customers:
        item = {k: serializer.serialize(v) for k, v in customer.items()}
        table.put_item(TableName=stack.table_name("CustomersTable"), Item=item)


@contextmanager
def running(
    stack: LocalStack, port: int = 0, function: str = FUNCTION, path: str = "/preferences"
) -> Iterator[PreferenceServer]:
    server = PreferenceServer(stack, port=port, function=function, path=path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def describe(server: PreferenceServer, customers: list[dict[str, Any]]) -> str:
    lines = [f"Preference centre on {server.base} (Ctrl-C to stop). Links, as emails carry them:"]
    for customer in customers:
        lines.append(
            f"  {customer['customer_id']} ({customer.get('locale', '-')}): "
            f"{server.url_for(customer['customer_id'], 'offers')}"
        )
    lines.append("One-click, as a mailbox provider sends it:")
    lines.append(
        "  curl -X POST --data 'List-Unsubscribe=One-Click' "
        f"'{server.url_for(customers[0]['customer_id'], 'offers')}'"
    )
    return "\n".join(lines)
