"""Prometheus metrics (SPEC 6): requests, latency and records by outcome, per endpoint."""

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    """The metrics of one app; each app has its own registry, so tests do not share counts."""

    def __init__(self) -> None:
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

    def observe_request(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(endpoint, method, str(status)).inc()
        self.latency.labels(endpoint).observe(seconds)

    def count_records(self, endpoint: str, outcome: str, amount: int) -> None:
        if amount:
            self.records.labels(endpoint, outcome).inc(amount)

    def render(self) -> bytes:
        return generate_latest(self.registry)
