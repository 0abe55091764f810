"""Calls to the Graph API (WhatsApp Cloud API, Messenger and Instagram Send API) and
what their errors mean for a retry.

Graph answers errors as ``{"error": {"code", "error_subcode", "message", ...}}``. The
HTTP status alone misleads: rate limits come back as 400 with code 4/613/130429, so the
code decides. Errors that no retry can fix (closed messaging window, bad token, blocked
user) end the reply as ``failed`` with the code and a plain-language reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp

from gateway.channels.base import send_http
from gateway.model import SendResult

# Transient: Graph hiccups and rate limits (app, page, account, WhatsApp throughput and
# per-recipient pair limits).
RETRYABLE_CODES = frozenset({1, 2, 4, 17, 32, 341, 613, 80006, 80007, 130429, 131000, 131016, 131056, 133004})

# Plain-language reasons for the errors an agent will meet; keys are code or (code, subcode).
HINTS: dict[int | tuple[int, int], str] = {
    131047: "more than 24 hours since the customer's last message: send an approved template",
    131026: "the message could not be delivered to this WhatsApp user",
    131030: "the recipient is not on the test number's allowed list",
    132000: "the template's parameter count does not match",
    132001: "the template does not exist in that language",
    (10, 2018278): "outside the 24-hour messaging window",
    (10, 2534022): "outside the allowed window: HUMAN_AGENT replies are allowed for 7 days and need Meta's approval",
    190: "the access token is invalid or expired",
    200: "the token lacks the permission to send messages",
    551: "this person is not available to message right now",
}


@dataclass(frozen=True)
class GraphError:
    code: int | None
    subcode: int | None
    message: str

    @property
    def hint(self) -> str | None:
        if self.code is None:
            return None
        if self.subcode is not None and (self.code, self.subcode) in HINTS:
            return HINTS[(self.code, self.subcode)]
        return HINTS.get(self.code)

    def describe(self, provider: str) -> str:
        code = f"{self.code}" + (f"/{self.subcode}" if self.subcode is not None else "")
        text = f"{provider} error {code}: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def graph_error(body: Any) -> GraphError | None:
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None
    details = error.get("error_data")
    message = str(error.get("message") or "")
    if isinstance(details, dict) and isinstance(details.get("details"), str) and details["details"] not in message:
        message = f"{message} — {details['details']}" if message else details["details"]
    return GraphError(code=_int(error.get("code")), subcode=_int(error.get("error_subcode")), message=message[:300])


async def graph_post(
    http: aiohttp.ClientSession, url: str, token: str, payload: dict[str, Any], *, provider: str
) -> tuple[Any, SendResult | None]:
    """POST ``payload`` with the bearer ``token``: (body, None) or (body, failure)."""
    _, body, failure = await send_http(http, "POST", url, json=payload, headers={"Authorization": f"Bearer {token}"})
    if failure is None:
        return body, None
    error = graph_error(body)
    if error is None:
        return body, failure
    retryable = error.code in RETRYABLE_CODES or (failure.retryable and error.hint is None)
    return body, SendResult(ok=False, retryable=retryable, error=error.describe(provider), meta={"code": error.code})
