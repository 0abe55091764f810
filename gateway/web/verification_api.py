"""``POST /api/v1/conversations/{id}/verify``: an agent sends the customer a one-time code
(docs/verification.md). ``202 {"via", "to", "expires_at", "verification"}``; ``to`` is masked."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from gateway.errors import RequestRejected
from gateway.verification.service import verification_view
from gateway.web.auth import require
from gateway.web.conversation_api import _body, _conversation, _may_work_on
from gateway.web.views import ok
from gateway.wiring.services import SERVICES
from gateway.wiring.verification_setup import VERIFIER


class VerifyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    via: Literal["sms", "email"] | None = None


async def verify(request: web.Request) -> web.Response:
    principal = require(request, "agent")
    verifier = request.app.get(VERIFIER)
    if verifier is None:
        raise RequestRejected(404, "verification_off", "identity verification is not configured (verification:)")
    body = await _body(request, VerifyBody, optional=True)
    conv = await _conversation(request, principal)
    _may_work_on(principal, conv)
    sent = await verifier.request(conv, via=body.via, by=principal.agent or "")
    record = await request.app[SERVICES].store.get_verification(conv.contact_id)
    return ok(
        {
            "via": sent.via,
            "to": sent.to,
            "expires_at": datetime.fromtimestamp(sent.expires_ms / 1000, UTC).isoformat(),
            "verification": verification_view(record, verifier.now_ms()),
        },
        status=202,
    )


routes = [web.post("/api/v1/conversations/{id}/verify", verify)]
