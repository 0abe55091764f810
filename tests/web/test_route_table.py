"""docs/security.md names every ``/api/v1`` route with the scope rule an agent's token
follows there (or lists it as ops only): a new route is not forgotten."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from aiohttp import web

import gateway.web

SECURITY = Path(__file__).resolve().parents[2] / "docs" / "security.md"


def api_routes() -> set[str]:
    found = set()
    for info in pkgutil.walk_packages(gateway.web.__path__, "gateway.web."):
        module = importlib.import_module(info.name)
        for route in getattr(module, "routes", []):
            if isinstance(route, web.RouteDef) and route.path.startswith("/api/v1/"):
                found.add(f"{route.method} {route.path}")
    return found


def test_every_api_route_is_in_the_security_table() -> None:
    routes = api_routes()
    assert "POST /api/v1/conversations/{id}/verify" in routes and len(routes) > 30
    text = SECURITY.read_text(encoding="utf-8")
    missing = sorted(r for r in routes if f"`{r}`" not in text)
    assert not missing, f"docs/security.md does not say who reaches {missing}"
