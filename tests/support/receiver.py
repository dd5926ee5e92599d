"""A webhook receiver for tests: an HTTP server on 127.0.0.1 in the test process that verifies
every delivery's signature with `standardwebhooks`, as a consumer would."""

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Delivery:
    webhook_id: str
    events: list[dict[str, Any]]
    tenant: str
    at: float


@dataclass
class Receiver:
    """Receives deliveries; `status` decides each answer (default 200); `delay` seconds before
    answering."""

    url: str = ""
    secret: str = ""
    deliveries: list[Delivery] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # webhook-ids answered with an error
    bad_signatures: int = 0
    status: int = 200
    delay: float = 0.0
    in_flight: int = 0
    most_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def events(self) -> list[dict[str, Any]]:
        """Every event delivered, once each (a consumer dedupes by seq)."""
        seen: dict[int, dict[str, Any]] = {}
        for delivery in self.deliveries:
            for event in delivery.events:
                seen.setdefault(event["seq"], event)
        return [seen[seq] for seq in sorted(seen)]

    def wait_for(self, condition: Callable[[], bool], seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while not condition():
            assert time.monotonic() < deadline, (self.deliveries, self.refused)
            time.sleep(0.05)


@contextmanager
def receiving() -> Iterator[Receiver]:
    """A receiver listening on a free port of 127.0.0.1 until the block ends."""
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            with state.lock:
                state.in_flight += 1
                state.most_in_flight = max(state.most_in_flight, state.in_flight)
            try:
                time.sleep(state.delay)
                try:
                    payload = Webhook(state.secret).verify(body, dict(self.headers))
                except WebhookVerificationError:
                    state.bad_signatures += 1
                    self.send_response(400)
                    self.end_headers()
                    return
                status = state.status
                with state.lock:
                    if status >= 300:
                        state.refused.append(self.headers["webhook-id"])
                    else:
                        state.deliveries.append(Delivery(
                            self.headers["webhook-id"], payload["data"]["events"],
                            payload["data"]["tenant"], time.monotonic(),
                        ))  # fmt: skip
                self.send_response(status)
                self.end_headers()
            finally:
                with state.lock:
                    state.in_flight -= 1

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
