"""Prometheus metrics, one registry per running Parlay (so tests can build many apps).

Each process serves its own registry (``/metrics`` of the API, or ``PARLAY_METRICS_BIND``'s
listener in any process, the worker's too): Prometheus scrapes every process as its own target
and sums in the query (docs/operations.md#metrics).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Provider answers take milliseconds (APNs over a warm HTTP/2 connection) to seconds (a slow
# Twilio); the send timeout ends the range.
SEND_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
# An invite should be on its way within a second of the call's request; more is worth seeing.
INVITE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300)
# Webhook events wait for the relay's poll (half a second) and, once failing, for backoff.
WEBHOOK_LAG_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)


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
        self.delivery_outcomes = Counter(
            "parlay_delivery_outcomes_total",
            "Outcomes the dispatcher recorded, by channel (inapp, sms, wa), status reached "
            "(SENT, FAILED, SKIPPED, EXPIRED, CANCELLED, SCHEDULED; RETRY for an attempt that "
            "goes back to the queue) and error code (empty when none).",
            ["channel", "status", "error_code"],
            registry=self.registry,
        )
        self.provider_send_latency = Histogram(
            "parlay_provider_send_seconds",
            "Time from handing a delivery to its channel to the provider's answer, by the "
            "provider that answered (apns, fcm, proxy, twilio, whatsapp, sandbox).",
            ["provider"],
            registry=self.registry,
            buckets=SEND_BUCKETS,
        )
        self.invite_send_delay = Histogram(
            "parlay_invite_queue_to_send_seconds",
            "Time from an IVR invite being queued to its provider accepting it, by channel.",
            ["channel"],
            registry=self.registry,
            buckets=INVITE_BUCKETS,
        )
        self.queue_depth = Gauge(
            "parlay_queue_depth",
            "Deliveries due and waiting for a worker, by dispatcher lane (priority: invites and "
            "conversation pushes of every channel; inapp, sms, wa: campaign deliveries). "
            "Sampled by each worker; every worker reports the same queue.",
            ["lane"],
            registry=self.registry,
        )
        self.webhook_relay_lag = Histogram(
            "parlay_webhook_relay_lag_seconds",
            "Time from a status webhook event being queued to its endpoint accepting it "
            "(retries included).",
            registry=self.registry,
            buckets=WEBHOOK_LAG_BUCKETS,
        )
        self.webhook_relay_oldest = Gauge(
            "parlay_webhook_relay_oldest_seconds",
            "Age of the oldest event the relay's last turn leased (0 when the outbox was "
            "empty): how far behind the relay runs.",
            registry=self.registry,
        )
