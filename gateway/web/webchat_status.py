"""``GET /webchat/availability``: what the widget's header says — "online" only when an
agent who serves the visitor's queue is online, otherwise the office hours and when a
reply will come.

Public (the widget runs on other sites' pages, like ``widget.js``) and says nothing but a
yes or no and two sentences: no agent names, no counts. ``?lang=zh|en`` picks the
language, ``?queue=`` the queue (the widget's ``data-queue``); without one, the queue a web
chat message would be routed to now (after-hours rules included). ``POST`` with the
visitor's token as the body (plain text: no preflight, and no token in a URL) asks about
the queue of the visitor's own open conversation, when it has one.

Online means what ``gateway.selfservice.waiting`` counts: an agent whose console's live
feed is open.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from gateway.channels.webchat import WebchatChannel, endpoint_for
from gateway.config import GatewayConfig
from gateway.model import Channel, ConversationStatus, Identity, IdentityKind, RoutingContext
from gateway.routing.calendar import DAYS, BusinessHours
from gateway.selfservice.languages import in_language
from gateway.selfservice.waiting import online_in
from gateway.wiring.services import SERVICES

_DAY = {
    "zh": {"mon": "周一", "tue": "周二", "wed": "周三", "thu": "周四", "fri": "周五", "sat": "周六", "sun": "周日"},
    "en": {"mon": "Mon", "tue": "Tue", "wed": "Wed", "thu": "Thu", "fri": "Fri", "sat": "Sat", "sun": "Sun"},
}


def office_hours(hours: BusinessHours | None, language: str) -> str | None:
    """``Mon–Fri 09:00-12:00, 13:00-18:00 (Asia/Shanghai)`` from the rules' calendar."""
    if hours is None:
        return None
    groups: list[tuple[list[int], str]] = []
    for day in range(7):
        intervals = hours.weekly.get(day, ())
        if not intervals:
            continue
        text = ("、" if language == "zh" else ", ").join(str(i) for i in intervals)
        if groups and groups[-1][1] == text and groups[-1][0][-1] == day - 1:
            groups[-1][0].append(day)
        else:
            groups.append(([day], text))
    if not groups:
        return None
    names = _DAY[language]
    parts = []
    for days, text in groups:
        span = names[DAYS[days[0]]] + (
            (("至" if language == "zh" else "–") + names[DAYS[days[-1]]]) if len(days) > 1 else ""
        )
        parts.append(f"{span} {text}")
    zone = hours.timezone.key
    if language == "zh":
        return f"服务时间：{'；'.join(parts)}（{zone}）"
    return f"Office hours: {'; '.join(parts)} ({zone})"


def _duration(seconds: float, language: str) -> str:
    minutes = max(1, round(seconds / 60))
    if minutes < 120:
        return f"{minutes} 分钟" if language == "zh" else f"{minutes} min"
    hours = round(minutes / 60)
    return f"{hours} 小时" if language == "zh" else f"{hours} h"


def reply_promise(config: GatewayConfig, language: str) -> str:
    configured = config.channels.webchat.reply_promise if config.channels.webchat else None
    if configured:
        return in_language(configured, language)
    within = _duration(config.reply_tracking.target_for(Channel.WEBCHAT), language)
    if language == "zh":
        return f"请留言，我们会在 {within} 内回复您。"
    return f"Leave us a message: we reply within {within}."


async def _visitor_queue(request: web.Request) -> str | None:
    """The queue of the visitor's own open conversation, from the token in the body."""
    services = request.app[SERVICES]
    channel = next((a for a in services.adapters if isinstance(a, WebchatChannel)), None)
    if (request.content_length or 0) > 256:  # a token is short: anything longer is not one
        return None
    # request.read(), not request.content: the body-timeout middleware has already read the
    # body (aiohttp keeps it), so the stream itself is empty by now.
    raw = (await request.read())[:256]
    visitor = channel.tokens.verify(raw.decode("ascii", "replace").strip()) if channel else None
    if visitor is None:
        return None
    identity = Identity(kind=IdentityKind.WEBCHAT, value=visitor)
    contact = await services.store.lookup_contact([identity.key])
    if contact is None:
        return None
    page = await services.store.list_conversations(contact_id=contact.id, limit=20)
    own = [c for c in page.conversations if c.endpoint == endpoint_for(visitor)]
    live = next((c for c in own if c.status is not ConversationStatus.RESOLVED and c.queue), None)
    return live.queue if live else None


async def availability(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    language = "zh" if (request.query.get("lang") or "").lower().startswith("zh") else "en"
    router = services.router()
    queue = (await _visitor_queue(request) if request.method == "POST" else None) or request.query.get("queue") or ""
    if queue not in router.queues():
        queue = router.decide(RoutingContext(channel=Channel.WEBCHAT, at=datetime.now(UTC))).queue
    online = bool(await online_in(services.store, router, services.known_agents(), queue))
    webchat = services.config.channels.webchat
    hours = (webchat.office_hours if webchat else None) or None
    body = {
        "online": online,
        "office_hours": in_language(hours, language) if hours else office_hours(router.business_hours, language),
        "reply_promise": reply_promise(services.config, language),
    }
    headers = {"Access-Control-Allow-Origin": "*", "Cache-Control": "no-store"}
    return web.json_response(body, headers=headers)


routes = [web.get("/webchat/availability", availability), web.post("/webchat/availability", availability)]
