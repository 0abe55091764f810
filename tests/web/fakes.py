"""Fakes the web tests share: the CRM behind the API channel's callback, and adapters
that record what they were asked to send."""

from __future__ import annotations

from typing import Any, ClassVar

from aiohttp import web

from gateway.channels.base import ChannelAdapter
from gateway.model import Channel, OutboundRequest, SendResult


class FakeCallback:
    """The CRM behind channels.api.callback_url: a real local HTTP server."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.statuses: list[int] = []  # answers to give, in order; then 200

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((dict(request.headers), await request.read()))
        status = self.statuses.pop(0) if self.statuses else 200
        return web.json_response({"ok": status < 400}, status=status)


async def start_crm(aiohttp_server: Any) -> tuple[FakeCallback, str]:
    fake = FakeCallback()
    app = web.Application()
    app.router.add_post("/gateway", fake.handle)
    server = await aiohttp_server(app)
    return fake, str(server.make_url("/gateway"))


class FakeWhatsApp(ChannelAdapter):
    name: ClassVar[str] = "whatsapp"
    channels: ClassVar[tuple[Channel, ...]] = (Channel.WHATSAPP,)
    can_send: ClassVar[bool] = True
    supports_templates: ClassVar[bool] = True

    def __init__(self) -> None:
        super().__init__(sink=None)  # type: ignore[arg-type]
        self.sent: list[OutboundRequest] = []

    async def send(self, request: OutboundRequest) -> SendResult:
        self.sent.append(request)
        return SendResult(ok=True, external_id=f"wamid.{len(self.sent)}")


class FakeEmail(FakeWhatsApp):
    name: ClassVar[str] = "email"
    channels: ClassVar[tuple[Channel, ...]] = (Channel.EMAIL,)
