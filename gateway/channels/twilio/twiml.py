"""Answering Twilio in TwiML (``text/xml``), errors included.

Twilio expects XML on its webhook paths, and an operator reading Twilio's debugger sees
the reason for a refusal as an XML comment.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from twilio.twiml.messaging_response import MessagingResponse

from gateway.errors import RequestRejected
from gateway.model import Backlogged, ServiceUnavailable

log = logging.getLogger(__name__)

XML_CONTENT_TYPE = "text/xml"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def empty_twiml() -> str:
    """``<Response />``: "nothing to do", the answer to a message we only store."""
    return str(MessagingResponse())


def twiml_response(xml: str, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(text=xml, status=status, content_type=XML_CONTENT_TYPE, charset="utf-8", headers=headers)


def _comment(text: str) -> str:
    """Text safe inside an XML comment: no ``--`` and no trailing ``-``."""
    while "--" in text:
        text = text.replace("--", "- -")
    return text.rstrip("-")


def error_twiml(code: str, message: str) -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?><Response><!-- {_comment(f"{code}: {message}")} --></Response>'


def twiml_errors(handler: Handler) -> Handler:
    """Answer rejections and a storage outage in TwiML instead of the JSON the API uses.

    503 (storage down) tells Twilio the message was not taken, so its retry may land.
    """

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except RequestRejected as exc:
            log.warning("twilio webhook rejected", extra={"path": request.path, "status": exc.status, "code": exc.code})
            return twiml_response(error_twiml(exc.code, exc.message), status=exc.status)
        except Backlogged as exc:
            return twiml_response(
                error_twiml(exc.code, str(exc)), status=503, headers={"Retry-After": str(exc.retry_after)}
            )
        except ServiceUnavailable:
            log.warning("twilio webhook: storage unavailable", extra={"path": request.path})
            return twiml_response(
                error_twiml("storage_unavailable", "storage is unavailable; retry later"),
                status=503,
                headers={"Retry-After": "5"},
            )

    return wrapped
