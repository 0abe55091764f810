"""The agent and ops console: ``GET /console``, its script (ES modules) and style sheet.

Plain files served from ``gateway/web/static`` (no framework, no build step): the script is
the ES modules of ``static/console/``, entered at ``main.js``. The page
holds no data of its own: it signs in with a bearer token kept in the tab's
``sessionStorage`` and talks to ``/api/v1`` like any other client, with live updates from
``/api/v1/events/ws``. ``install`` wires the page, ``/api/v1/agents/me`` and the socket
into an app.
"""

from __future__ import annotations

import hashlib
from importlib import resources

from aiohttp import web

from gateway.errors import header_text
from gateway.web import agent_api, console_ws
from gateway.web.console_feed import FEED, EventFeed

# Nothing from elsewhere: scripts and styles from this origin only, no framing, and the
# socket back to this origin ('self' covers ws:/wss: of the same host in CSP level 3).
CONSOLE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def _static(name: str) -> bytes:
    return (resources.files("gateway") / "web" / "static" / name).read_bytes()


class _Asset:
    def __init__(self, name: str, content_type: str) -> None:
        self.body = _static(name)
        self.content_type = content_type
        self.etag = '"' + hashlib.sha256(self.body).hexdigest()[:16] + '"'

    async def handle(self, request: web.Request) -> web.Response:
        headers = {"Cache-Control": "no-cache", "ETag": self.etag, "X-Content-Type-Options": "nosniff"}
        if header_text(request.headers, "If-None-Match") == self.etag:
            return web.Response(status=304, headers=headers)
        return web.Response(body=self.body, content_type=self.content_type, charset="utf-8", headers=headers)


def _modules() -> dict[str, _Asset]:
    """The script's ES modules (``static/console/*.js``) by file name: only these are served."""
    folder = resources.files("gateway") / "web" / "static" / "console"
    names = sorted(entry.name for entry in folder.iterdir() if entry.name.endswith(".js"))
    return {name: _Asset(f"console/{name}", "text/javascript") for name in names}


_MODULES = _modules()
_STYLE = _Asset("console.css", "text/css")
_PAGE = _static("console.html").decode()
# One version for the whole script: any module changed gives the entry point a new URL.
_SCRIPT_VERSION = hashlib.sha256("".join(m.etag for m in _MODULES.values()).encode()).hexdigest()[:16]


async def console_module(request: web.Request) -> web.Response:
    module = _MODULES.get(request.match_info["name"])
    if module is None:
        raise web.HTTPNotFound()
    return await module.handle(request)


async def console_page(request: web.Request) -> web.Response:
    headers = {
        "Content-Security-Policy": CONSOLE_CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
    }
    # Cache-busting by content: a deploy with a new script is picked up on the next load.
    page = _PAGE.replace("{{js}}", _SCRIPT_VERSION).replace("{{css}}", _STYLE.etag.strip('"'))
    return web.Response(text=page, content_type="text/html", charset="utf-8", headers=headers)


routes = [
    web.get("/console", console_page),
    web.get("/static/console/{name}", console_module),
    web.get("/static/console.css", _STYLE.handle),
]


def install(app: web.Application, feed: EventFeed) -> None:
    """The page, the agent's summary endpoint and the live socket; the feed is started
    and stopped by the app's lifecycle, the sockets are closed first on shutdown."""
    app[FEED] = feed
    app[console_ws.SOCKETS] = console_ws.ConsoleSockets()
    app.router.add_routes(routes)
    app.router.add_routes(agent_api.routes)
    app.router.add_routes(console_ws.routes)
    app.on_shutdown.append(console_ws.close_sockets)
