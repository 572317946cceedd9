"""A real webhook receiver for the tests: an HTTP server on a free 127.0.0.1 port, in a thread,
that verifies every request's Standard Webhooks signature with the subscription's secret and
de-duplicates on ``webhook-id`` as a receiver should."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class ReceivedRequest:
    path: str
    webhook_id: str
    headers: dict[str, str]
    body: bytes
    is_verified: bool
    status_code: int


@dataclass
class Receiver:
    """``answer(request_number, webhook_id) -> status`` decides each response (default 200);
    ``hold`` (if set) makes the handler of the request with that id wait for ``release``."""

    port: int = 0
    secrets: dict[str, str] = field(default_factory=dict)  # path → secret
    requests: list[ReceivedRequest] = field(default_factory=list)
    answer: Callable[[int, str], int] = lambda number, webhook_id: 200
    hold_webhook_id: str | None = None
    held: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str, secret: str | None = None) -> str:
        if secret is not None:
            self.secrets[path] = secret
        return f"http://127.0.0.1:{self.port}{path}"

    def snapshot(self) -> list[ReceivedRequest]:
        with self.lock:
            return list(self.requests)

    def accepted(self) -> list[ReceivedRequest]:
        """Verified requests answered with 2xx, in arrival order."""
        return [r for r in self.snapshot() if r.is_verified and 200 <= r.status_code < 300]

    def processed_once(self) -> list[str]:
        """What a de-duplicating receiver acts on: each accepted webhook-id once, in order."""
        return list(dict.fromkeys(r.webhook_id for r in self.accepted()))


def _handler_for(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the sender uses it

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            headers = {key.lower(): value for key, value in self.headers.items()}
            webhook_id = headers.get("webhook-id", "")
            secret = receiver.secrets.get(self.path)
            try:
                Webhook(secret).verify(body, headers)
                is_verified = True
            except (WebhookVerificationError, TypeError, ValueError):
                is_verified = False
            if webhook_id and webhook_id == receiver.hold_webhook_id and not receiver.held.is_set():
                receiver.held.set()
                receiver.release.wait(60)
            with receiver.lock:
                status = receiver.answer(len(receiver.requests) + 1, webhook_id)
                if not is_verified:
                    status = 401
                receiver.requests.append(
                    ReceivedRequest(self.path, webhook_id, headers, body, is_verified, status)
                )
            reply = b"{}"
            try:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)
            except OSError:
                pass  # the sender is gone (a killed worker)

        def log_message(self, *args) -> None:
            pass

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(state))
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True)
    thread.start()
    yield state
    state.release.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def subscribe(receiver):
    """Create a subscription (through the service) pointing at the receiver."""
    from integration.choices import EventType
    from integration.services.subscriptions import subscription_create

    counter = {"n": 0}

    def make(*, event_types=None, site_id=None, name=None):
        counter["n"] += 1
        path = f"/hooks/{counter['n']}"
        subscription = subscription_create(
            name=name or f"ERP {counter['n']}",
            target_url=receiver.url(path),
            event_types=event_types or list(EventType.values),
            site_id=site_id,
        )
        receiver.url(path, subscription.secret)
        return subscription

    return make
