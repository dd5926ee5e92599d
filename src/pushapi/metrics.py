"""Prometheus metrics (SPEC 6): requests, latency and records by outcome, per endpoint.

With several worker processes (`pushapi serve --workers N`) each worker counts in files of a
directory shared by all of them (prometheus_client's multiprocess mode, switched on by
`PROMETHEUS_MULTIPROC_DIR`), and `/metrics` adds up every worker, whichever one answers.
"""

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MULTIPROCESS_DIRECTORY = "PROMETHEUS_MULTIPROC_DIR"


class Metrics:
    """The metrics of one app; each app has its own registry, so tests do not share counts."""

    def __init__(self) -> None:
        # Read once: prometheus_client chose between memory and shared files when imported.
        self.shared_directory = os.environ.get(MULTIPROCESS_DIRECTORY)
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "pushapi_http_requests",
            "HTTP requests answered, by endpoint, method and status",
            ["endpoint", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "pushapi_http_request_duration_seconds",
            "Time to answer an HTTP request, by endpoint",
            ["endpoint"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=self.registry,
        )
        self.records = Counter(
            "pushapi_push_records",
            "Pushed records by endpoint and outcome (created, updated, deleted, unchanged, "
            "rejected)",
            ["endpoint", "outcome"],
            registry=self.registry,
        )

        self.deliveries = Counter(
            "pushapi_webhook_deliveries",
            "Webhook deliveries (one batch of events each) by outcome: delivered or failed",
            ["outcome"],
            registry=self.registry,
        )
        self.delivery_latency = Histogram(
            "pushapi_webhook_delivery_seconds",
            "Time a receiver took to answer a webhook delivery",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.lag = Gauge(
            "pushapi_webhook_lag_events",
            "Change events of the tenant not yet delivered to the webhook, as last seen",
            ["webhook"],
            registry=self.registry,
            multiprocess_mode="mostrecent",
        )

    def count_delivery(self, outcome: str, seconds: float) -> None:
        self.deliveries.labels(outcome).inc()
        self.delivery_latency.observe(seconds)

    def webhook_lag(self, webhook_id: str, events: int) -> None:
        self.lag.labels(webhook_id).set(events)

    def observe_request(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(endpoint, method, str(status)).inc()
        self.latency.labels(endpoint).observe(seconds)

    def count_records(self, endpoint: str, outcome: str, amount: int) -> None:
        if amount:
            self.records.labels(endpoint, outcome).inc(amount)

    def render(self) -> bytes:
        """The Prometheus text of this process, or of every worker in multiprocess mode."""
        if not self.shared_directory:
            return generate_latest(self.registry)
        every_worker = CollectorRegistry()
        MultiProcessCollector(every_worker, path=self.shared_directory)  # type: ignore[no-untyped-call]
        return generate_latest(every_worker)


@contextmanager
def metrics_shared_by_workers(workers: int) -> Iterator[None]:
    """Around `uvicorn.run` with `workers` processes: give them one fresh metrics directory.

    The variable must be set before a worker imports prometheus_client, so the serving process
    sets it and the workers inherit it; the directory is removed when serving ends, so counts
    start from zero with every start, as they do with one worker. An operator's own
    `PROMETHEUS_MULTIPROC_DIR` is left as it is.
    """
    if workers <= 1 or os.environ.get(MULTIPROCESS_DIRECTORY):
        yield
        return
    directory = tempfile.mkdtemp(prefix="pushapi-metrics-")
    os.environ[MULTIPROCESS_DIRECTORY] = directory
    try:
        yield
    finally:
        del os.environ[MULTIPROCESS_DIRECTORY]
        shutil.rmtree(directory, ignore_errors=True)
