"""Prometheus metrics, one registry per running Parlay (so tests can build many apps)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.http_requests = Counter(
            "parlay_http_requests_total",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.http_latency = Histogram(
            "parlay_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template.",
            ["route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.rate_limited = Counter(
            "parlay_rate_limited_total",
            "Requests refused with 429, by API family.",
            ["family"],
            registry=self.registry,
        )
        self.rate_limiter_errors = Counter(
            "parlay_rate_limiter_errors_total",
            "Requests let through because the rate limiter's storage (Redis) was unreachable.",
            registry=self.registry,
        )
        self.webhooks_refused = Counter(
            "parlay_provider_webhooks_refused_total",
            "Provider webhooks (Twilio, WhatsApp) refused with 403: unsigned, forged, or for an "
            "account without the provider's credentials. Nothing they said was applied.",
            ["provider"],
            registry=self.registry,
        )
        self.sms_segments = Counter(
            "parlay_sms_segments_total",
            "SMS segments Twilio accepted to send, by encoding (GSM-7 or UCS-2): what is billed.",
            ["encoding"],
            registry=self.registry,
        )
        self.presence_errors = Counter(
            "parlay_presence_errors_total",
            "Live-stream presence reads or writes that failed (Redis unreachable): agent pushes "
            "went out as if no device held a stream.",
            registry=self.registry,
        )
