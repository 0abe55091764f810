"""What WhatsApp, Messenger and Instagram webhooks share: the subscription handshake,
the ``X-Hub-Signature-256`` check over the raw bytes, and handing a parsed batch to the
sink event by event (a Messenger delivery/read watermark as status updates for the
replies it covers, see ``watermarks``).

Meta signs the bytes it sends, and it sends non-ASCII text escaped (``"\\u4ed8"``):
the HMAC is taken over ``await request.read()`` before anything is decoded, so Chinese
text verifies exactly as it arrived.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any, ClassVar

from aiohttp import web

from gateway.channels.base import (
    ChannelAdapter,
    InboundSink,
    RequestRejected,
    parse_json_body,
    signature_matches,
)
from gateway.channels.fields import MAX_EXTERNAL_ID
from gateway.channels.meta.batch import Batch
from gateway.channels.meta.watermarks import ConversationReader, Watermark, covered_updates
from gateway.channels.textparts import PartProgress
from gateway.model import InboundMessage, ServiceUnavailable

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Hub-Signature-256"


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

    def parse(self, data: Any) -> Batch:
        raise NotImplementedError

    def routes(self) -> list[web.AbstractRouteDef]:
        path = f"/webhooks/{self.name}"
        return [web.get(path, self.handle_subscription), web.post(path, self.handle)]

    async def handle_subscription(self, request: web.Request) -> web.Response:
        """Meta's ``hub.challenge`` handshake when the webhook URL is registered."""
        mode = request.query.get("hub.mode", "")
        token = request.query.get("hub.verify_token", "")
        if mode != "subscribe" or not hmac.compare_digest(token.encode(), self._verify_token.encode()):
            raise RequestRejected(403, "bad_verify_token", "hub.mode must be subscribe and hub.verify_token must match")
        challenge = request.query.get("hub.challenge")
        if not challenge:
            raise RequestRejected(400, "bad_request", "hub.challenge is missing")
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
        header = request.headers.get(SIGNATURE_HEADER)
        if not header:
            raise RequestRejected(401, "unsigned", f"{SIGNATURE_HEADER} is missing")
        if not signature_matches(header, self._app_secret, body):
            raise RequestRejected(403, "bad_signature", f"{SIGNATURE_HEADER} does not match the body")
        batch = self.parse(parse_json_body(body))
        for problem in batch.problems:
            log.warning("unreadable event skipped", extra={"channel": self.name, "problem": problem[:300]})
        stored = duplicates = statuses = 0
        # In order, one at a time: messages of one conversation keep their order, and a
        # storage failure (503) stops here so Meta redelivers; what was stored dedupes.
        for event in batch.events:
            if isinstance(event, Watermark):
                statuses += await self.apply_watermark(event)
                continue
            if len(event.external_id) > MAX_EXTERNAL_ID:
                log.warning("event with an over-long id skipped", extra={"channel": self.name})
                continue
            if isinstance(event, InboundMessage):
                result = await self.sink.accept(event)
                duplicates += result.duplicate
                stored += not result.duplicate
            else:
                statuses += await self.sink.accept_status(event)
        return web.json_response(
            {
                "stored": stored,
                "duplicates": duplicates,
                "statuses_applied": statuses,
                "skipped": batch.skipped,
                "unreadable": len(batch.problems),
            }
        )
