"""Replies on a feedback-form conversation go out by email or SMS.

The form itself (``GET /feedback``, ``POST /api/v1/feedback``) is in the web layer: it
hands the sender's words to ingest as a ``form`` message from their email address or
phone number. A reply (the case's number, its progress) goes to that address through the
channel that serves it — the email channel's relay or Twilio's SMS — and the result says
which, so delivery reports and mail threading work as on that channel. A customer's
answer by email threads back into the form conversation (the reply token).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from gateway.channels.base import ChannelAdapter, InboundSink
from gateway.model import Channel, IdentityKind, OutboundRequest, SendResult

# Which channel sends to which kind of address.
DELIVERY: dict[IdentityKind, Channel] = {IdentityKind.EMAIL: Channel.EMAIL, IdentityKind.PHONE: Channel.SMS}


class FormChannel(ChannelAdapter):
    name: ClassVar[str] = "form"
    channels: ClassVar[tuple[Channel, ...]] = (Channel.FORM,)

    def __init__(self, sink: InboundSink, *, adapter_for: Callable[[Channel], ChannelAdapter | None]) -> None:
        super().__init__(sink)
        self._adapter_for = adapter_for

    def _delivery(self, kind: IdentityKind) -> ChannelAdapter | None:
        channel = DELIVERY.get(kind)
        adapter = self._adapter_for(channel) if channel else None
        return adapter if adapter is not None and adapter.can_send else None

    @property
    def can_send(self) -> bool:  # type: ignore[override]
        return any(self._delivery(kind) is not None for kind in DELIVERY)

    async def send(self, request: OutboundRequest) -> SendResult:
        adapter = self._delivery(request.recipient.kind)
        if adapter is None:
            return SendResult(
                ok=False,
                retryable=False,
                error=f"no channel configured to answer a form sender at their {request.recipient.kind.value} address",
            )
        result = await adapter.send(request)
        channel = DELIVERY[request.recipient.kind]
        return result.model_copy(update={"meta": {**result.meta, "channel": channel.value}})
