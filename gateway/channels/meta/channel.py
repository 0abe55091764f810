"""What the WhatsApp, Messenger and Instagram adapters share: their paths, and the
three steps of a webhook — ``verify`` (the handshake and ``X-Hub-Signature-256``),
``parse_batch`` (each product's parser) and handing the batch to the sink event by event
(a Messenger delivery/read watermark as status updates for the replies it covers, see
``watermarks``). Sending is each product's own (``whatsapp``, ``messenger``).
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from aiohttp import web

from gateway.channels.base import ChannelAdapter, InboundSink
from gateway.channels.kinds import ignored
from gateway.channels.meta.batch import Batch, Event
from gateway.channels.meta.verify import SIGNATURE_HEADER, verify_signature, verify_subscription
from gateway.channels.meta.watermarks import ConversationReader, Watermark, covered_updates
from gateway.channels.textparts import PartProgress
from gateway.errors import RequestRejected, header_text, parse_json_body
from gateway.model import Amendment, InboundMessage, ServiceUnavailable

log = logging.getLogger(__name__)


class MetaChannel(ChannelAdapter):
    """A Meta product at ``/webhooks/<name>``; subclasses parse and send."""

    can_send: ClassVar[bool] = True

    def __init__(
        self,
        sink: InboundSink,
        *,
        app_secret: str,
        verify_token: str,
        api_base_url: str,
        reader: ConversationReader | None = None,
    ) -> None:
        super().__init__(sink)
        self._app_secret = app_secret
        self._verify_token = verify_token
        self.api_base_url = api_base_url.rstrip("/")
        self.parts = PartProgress()
        self.reader = reader  # where watermarks find the replies they cover (the store)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(api_base_url={self.api_base_url!r})"

    def parse_batch(self, data: Any) -> Batch:
        """A verified delivery's JSON → its events, in order."""
        raise NotImplementedError

    def routes(self) -> list[web.AbstractRouteDef]:
        path = f"/webhooks/{self.name}"
        return [web.get(path, self.handle_subscription), web.post(path, self.handle)]

    async def handle_subscription(self, request: web.Request) -> web.Response:
        """Meta's ``hub.challenge`` handshake when the webhook URL is registered."""
        challenge = verify_subscription(self._verify_token, request.query)
        return web.Response(text=challenge, content_type="text/plain")

    async def apply_watermark(self, mark: Watermark) -> int:
        """Status updates for the replies ``mark`` covers, through the sink; how many moved.

        A failed look-up is logged and costs only this watermark (a later one covers the
        same replies): the batch's messages are stored and Meta gets its 200. Storage being
        down is the exception — 503, so Meta redelivers, as for any event."""
        if self.reader is None:
            log.warning("no store to apply a delivery watermark to", extra={"channel": self.name})
            return 0
        try:
            updates = await covered_updates(self.reader, mark)
        except ServiceUnavailable:
            raise
        except Exception:
            log.exception("delivery watermark skipped", extra={"channel": self.name})
            return 0
        applied = 0
        for update in updates:
            applied += await self.sink.accept_status(update)
        if updates:
            log.info(
                "delivery watermark applied",
                extra={"channel": self.name, "status": mark.status.value, "covered": len(updates), "moved": applied},
            )
        return applied

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        verify_signature(self._app_secret, body, header_text(request.headers, SIGNATURE_HEADER))
        batch = self.parse_batch(parse_json_body(body))
        for problem in batch.problems:
            log.warning("unreadable event", extra={"channel": self.name, "problem": problem[:300]})
        for kind in batch.ignored:
            ignored(self.name, kind)
        counts = {"stored": 0, "duplicates": 0, "amended": 0, "statuses_applied": 0}
        # In order, one at a time: messages of one conversation keep their order, and a
        # storage failure (503) stops here so Meta redelivers; what was stored dedupes.
        for event in batch.events:
            await self._hand_over(event, counts)
        if batch.problems:
            # What was readable is stored; the rest must not be acknowledged as if it were.
            raise RequestRejected(
                422, "unreadable_events", f"{len(batch.problems)} event(s) could not be read: {batch.problems[0][:200]}"
            )
        return web.json_response({**counts, "skipped": batch.skipped, "unreadable": 0})

    async def _hand_over(self, event: Event, counts: dict[str, int]) -> None:
        if isinstance(event, Watermark):
            counts["statuses_applied"] += await self.apply_watermark(event)
        elif isinstance(event, Amendment):
            result = await self.sink.amend(event)
            counts["amended"] += result.outcome in ("applied", "stored_new")
            counts["duplicates"] += result.outcome == "duplicate"
            if result.outcome == "not_found":
                ignored(self.name, f"{event.action}_unknown_message")
        elif isinstance(event, InboundMessage):
            result = await self.sink.accept(event)
            counts["duplicates"] += result.duplicate
            counts["stored"] += not result.duplicate
        else:
            counts["statuses_applied"] += await self.sink.accept_status(event)
