"""OpenAPI links: where an answer's ids lead (a webhook's conversation to reading and working
it, a conversation to its contact, a new case to its steps). Clients and
tools (the stateful phase of schemathesis) follow them from one operation to the next."""

from __future__ import annotations

from typing import Any

CONVERSATION_OPS = [
    ("/api/v1/conversations/{id}", "get"),
    ("/api/v1/conversations/{id}/claim", "post"),
    ("/api/v1/conversations/{id}/messages", "post"),
    ("/api/v1/conversations/{id}/transfer", "post"),
    ("/api/v1/conversations/{id}/pending", "post"),
    ("/api/v1/conversations/{id}/resolve", "post"),
    ("/api/v1/conversations/{id}/verify", "post"),
]
CASE_OPS = [
    ("/api/v1/cases/{number}", "get"),
    ("/api/v1/cases/{number}/progress", "post"),
    ("/api/v1/cases/{number}/extend", "post"),
    ("/api/v1/cases/{number}/parties", "post"),
    ("/api/v1/cases/{number}/resolve", "post"),
]
CONTACT_OPS = [("/api/v1/contacts/{id}", "get"), ("/api/v1/contacts/{id}/merge", "post")]

# (path, method, status) of an answer → [(target path, method, parameters)]
LINKS: dict[tuple[str, str, str], list[tuple[str, str, dict[str, Any]]]] = {
    ("/webhooks/api", "post", "200"): [
        (path, method, {"id": "$response.body#/conversation_id"}) for path, method in CONVERSATION_OPS
    ],
    ("/api/v1/conversations", "get", "200"): [
        (path, method, {"id": "$response.body#/conversations/0/id"}) for path, method in CONVERSATION_OPS
    ],
    ("/api/v1/agents/me/next", "post", "200"): [
        (path, method, {"id": "$response.body#/id"}) for path, method in CONVERSATION_OPS
    ],
    ("/api/v1/conversations/{id}", "get", "200"): [
        (path, method, {"id": "$response.body#/contact_id"}) for path, method in CONTACT_OPS
    ],
    ("/api/v1/cases", "post", "201"): [
        (path, method, {"number": "$response.body#/number"}) for path, method in CASE_OPS
    ],
}


def _pointer(path: str, method: str) -> str:
    return "#/paths/" + path.replace("~", "~0").replace("/", "~1") + "/" + method


def add_links(paths: dict[str, Any]) -> None:
    """Write ``LINKS`` into the responses of ``paths`` (targets that are not there are left out)."""
    for (path, method, status), targets in LINKS.items():
        response = paths.get(path, {}).get(method, {}).get("responses", {}).get(status)
        if response is None:
            continue
        links = response.setdefault("links", {})
        for target, target_method, parameters in targets:
            if target_method not in paths.get(target, {}):
                continue
            name = f"{target_method}{target}".replace("/", "_").replace("{", "").replace("}", "")
            links[name] = {"operationRef": _pointer(target, target_method), "parameters": parameters}
