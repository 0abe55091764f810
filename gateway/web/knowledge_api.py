"""``GET /api/v1/knowledge?q=&language=``: the knowledge base's articles (and the FAQ's
entries) for canned replies, best matches first."""

from __future__ import annotations

import re

from aiohttp import web

from gateway.errors import RequestRejected
from gateway.selfservice.knowledge import KnowledgeBase
from gateway.web.auth import require
from gateway.web.views import ok

KNOWLEDGE = web.AppKey("knowledge", KnowledgeBase)
LANGUAGE = re.compile(r"^[a-z]{2}(-[A-Za-z]{2,4})?$")


async def search(request: web.Request) -> web.Response:
    require(request, "agent", "ops")
    q = (request.query.get("q") or "").strip()
    if len(q) > 200:
        raise RequestRejected(400, "bad_request", "q must be at most 200 characters")
    language = request.query.get("language") or None
    if language is not None and not LANGUAGE.fullmatch(language):  # fullmatch: $ takes a newline
        raise RequestRejected(400, "bad_request", "language must be a code such as zh or en")
    base = request.app.get(KNOWLEDGE)
    articles = base.search(q, language) if base is not None else []
    return ok({"articles": articles})


routes = [web.get("/api/v1/knowledge", search)]
