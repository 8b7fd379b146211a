"""The shapes of what Parlay answers, as the API spells them (camelCase): what a caller reads is
what docs/api.md documents, field for field."""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict


class ConsumerContent(TypedDict, total=False):
    """Where a consumer is reached: the in-app consumer ID, SMS and WhatsApp numbers."""

    inapp: str
    sms: str
    wa: str


class Consumer(TypedDict, total=False):
    """One consumer of a campaign (LivePerson's fields)."""

    consumerContent: dict[str, str]
    consumerCountryCode: str
    consumerPhoneNumber: str
    variables: dict[str, str]
    headerVariables: dict[str, str]
    sdes: list[dict[str, Any]]


class FailedConsumer(TypedDict):
    consumerContent: dict[str, str]
    variables: dict[str, Any] | None
    errorMessage: str
    headerVariables: NotRequired[dict[str, str]]
    phone: NotRequired[str | None]
    countryCode: NotRequired[str | None]


class AcceptedConsumer(TypedDict):
    id: str
    phoneNumber: str | None
    consumerContent: dict[str, str]


class CampaignAccepted(TypedDict):
    proactiveCampaignId: str
    leCampaignId: str
    leEngagementId: str
    acceptedConsumers: NotRequired[list[AcceptedConsumer]]
    acceptedCount: int
    failedConsumers: list[FailedConsumer]
    requestTraceId: str


CampaignStatus = Literal["ACCEPTED", "IN_PROGRESS", "FINISHED", "CANCELLED", "FAILED"]


class CampaignSummary(TypedDict):
    proactiveCampaignId: str
    campaignName: str
    campaignStatus: str
    skill: str
    templateId: str
    acceptedConsumers: int
    failedConsumers: int
    createdAt: str
    finishedAt: str | None


class Campaign(CampaignSummary):
    counts: dict[str, int]


class Recipient(TypedDict):
    id: str
    consumerId: str | None
    phoneNumber: str | None
    channel: str
    status: str
    deliveryStatus: str
    errorCode: str | None
    errorMessage: str | None
    errorSource: str | None
    conversationId: str | None


class IneligibleChannel(TypedDict):
    channel: str
    reason: str


class Eligibility(TypedDict):
    callId: str
    eligible: bool
    availableChannels: list[str]
    recommendedChannelName: str
    ineligibleChannels: list[IneligibleChannel]


class Invite(TypedDict):
    callId: str
    deliveryId: str | None
    channel: str | None
    status: str
    reason: str | None


class Delivery(TypedDict):
    deliveryId: str
    source: str
    channel: str
    status: str
    proactiveCampaignId: str | None
    callId: str | None
    handOffId: str
    skill: str
    consumerId: str | None
    consumerPhoneNumber: str | None
    conversationId: str | None
    errorCode: str | None
    errorMessage: str | None
    errorSource: str | None
    providerMessageId: str | None
    supersededBy: str | None
    attempts: int
    attemptedTime: str
    scheduledTime: str | None
    sentTime: str | None
    deliveredTime: str | None
    readTime: str | None
    failedTime: str | None
    skippedTime: str | None
    expiredTime: str | None
    cancelledTime: str | None
    conversationCreatedTime: str | None
    conversationClosedTime: str | None


class InviteState(TypedDict):
    callId: str
    handOffId: str
    skill: str
    createdAt: str
    expiresAt: str
    invited: bool
    inviteStatus: str | None
    reason: str | None
    delivery: Delivery | None


class HandoffChannel(TypedDict, total=False):
    """One channel of a handoff: ``type`` is ``inapp``, ``sms`` or ``wa``."""

    type: str
    appIds: list[str]
    outboundNumber: str
    messageText: str
    notificationTitle: str
    templateName: str
    templateLanguage: str
    templateVariables: int


class HandoffIn(TypedDict, total=False):
    """A handoff to create or replace (``name`` and ``channels`` are required)."""

    id: str
    name: str
    skill: str
    lookbackPeriodDay: int
    lookbackPeriodHour: int
    routeAllWithinLookback: bool
    pushWhenLoggedIn: bool
    pushWhenLoggedOut: bool
    channels: list[HandoffChannel]


class Handoff(TypedDict):
    id: str
    name: str
    skill: str | None
    lookbackPeriodDay: int
    lookbackPeriodHour: int
    routeAllWithinLookback: bool
    pushWhenLoggedIn: bool
    pushWhenLoggedOut: bool
    channels: list[HandoffChannel]
    createdAt: str
    updatedAt: str


class Skill(TypedDict):
    id: int
    name: str
    createdAt: str


class User(TypedDict):
    id: int
    username: str
    roles: list[str]
    type: str
    skills: list[str]
    maxConcurrentConversations: int
    disabled: bool
    createdAt: str
    updatedAt: str


class Webhook(TypedDict):
    id: int
    url: str
    events: list[str]
    description: str | None
    state: str
    disabledReason: str | None
    disabledAt: str | None
    createdAt: str
    pendingEvents: int


class WebhookCreated(Webhook):
    secret: str


class LoginToken(TypedDict):
    accessToken: str
    tokenType: str
    expiresIn: int


class KeyToken(TypedDict):
    access_token: str
    token_type: str
    expires_in: int
