"""What the faces of Parlay (the JSON API, the web pages, the CLI) call into: the running parts,
built once by the composition root (``parlay.bootstrap``) and handed to them.

A face parses its input, calls a use case (``parlay.<domain>.usecases``) with these parts, and
maps the result; it opens no transaction and holds no rule of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from parlay.c2m.models import Call
from parlay.config import Settings
from parlay.consumers.auth import JwksCache
from parlay.delivery.lifecycle import ProviderStatus
from parlay.delivery.origins import Origins
from parlay.delivery.queue import PriorityLane
from parlay.lib.clock import Clock
from parlay.lib.db.group import GroupCommit
from parlay.lib.db.uow import Transactions
from parlay.lib.events.hub import EventHub
from parlay.lib.events.presence import Presence
from parlay.lib.events.sse import StreamSlots
from parlay.lib.http.urls import UrlPolicy
from parlay.lib.observability.metrics import Metrics
from parlay.lib.ratelimit import RateLimiter
from parlay.lib.secretbox import SecretBox
from parlay.messaging.directory import ProviderDirectory


@dataclass(frozen=True)
class Services:
    settings: Settings
    tx: Transactions  # units of work on the database
    invites: PriorityLane  # this process's dispatcher, handed the invites queued here
    limiter: RateLimiter
    metrics: Metrics
    hub: EventHub  # live events (the streams subscribe here)
    origins: Origins  # why each delivery was sent (campaign or IVR call), cached
    jwks: JwksCache  # the brands' consumer-JWT keys, cached
    streams: StreamSlots  # the live streams open in this process, bounded per subscriber
    presence: Presence  # which devices hold a live stream (in any process, with Redis)
    urls: UrlPolicy  # which URLs a brand may save for Parlay to fetch
    secrets: SecretBox  # encrypts the credentials Parlay stores (PARLAY_SECRET_KEY)
    providers: ProviderDirectory  # the accounts' Twilio and WhatsApp credentials, cached
    sms_statuses: GroupCommit[ProviderStatus]  # Twilio's status callbacks, group-committed
    calls: GroupCommit[Call]  # the eligibility checks' calls, group-committed

    @property
    def clock(self) -> Clock:
        return self.tx.clock
