"""What the case tests share: a workflow file, a gateway with cases on and a clock the
test moves, and small API helpers."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from gateway.wiring.services import SERVICES
from tests.helpers import ALICE_TOKEN, auth, signed_api_body

_ids = itertools.count(1)

WORKFLOW = """
number_prefix: CP
timezone: Asia/Shanghai
categories:
  double_charge:
    name: {zh: 重复扣款, en: double charge}
    kind: complaint
    first_update_within: 2d
    resolve_within: 15d
    max_resolve_within: 30d
    queue: general
    priority: 6
  suggestion:
    name: {zh: 意见建议, en: suggestion}
    kind: feedback
    first_update_within: 3d
    resolve_within: 10d
    max_resolve_within: 20d
    queue: general
form:
  per_ip: 4
  per_identity: 2
  window: 1h
"""

DAY = 86400.0


class Clock:
    """Real time plus an offset the test moves forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


def write_workflow(directory: Path, text: str = WORKFLOW) -> Path:
    path = directory / "cases.yaml"
    path.write_text(text, encoding="utf-8")
    return path


async def say(client: TestClient, user: str, text: str, **sender: Any) -> dict[str, Any]:
    """A customer message through the signed API channel."""
    body, headers = signed_api_body({"id": f"c-{next(_ids)}", "from": {"id": user, **sender}, "text": text})
    resp = await client.post("/webhooks/api", data=body, headers=headers)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def call(client: TestClient, method: str, path: str, token: str = ALICE_TOKEN, **kw: Any) -> tuple[int, Any]:
    resp = await client.request(method, path, headers=auth(token), **kw)
    text = await resp.text()
    return resp.status, (json.loads(text) if text and resp.content_type == "application/json" else text)


async def open_case(
    client: TestClient,
    cid: str,
    category: str = "double_charge",
    summary: str = "重复扣款 99 元",
    token: str = ALICE_TOKEN,
) -> dict[str, Any]:
    status, body = await call(
        client, "POST", "/api/v1/cases", token, json={"conversation_id": cid, "category": category, "summary": summary}
    )
    assert status == 201, body
    return body


async def case_of(client: TestClient, number: str, token: str = ALICE_TOKEN) -> dict[str, Any]:
    status, body = await call(client, "GET", f"/api/v1/cases/{number}", token)
    assert status == 200, body
    return body


async def settle(client: TestClient) -> None:
    """Run every timer that is due now (the scanner also runs on its own)."""
    while await client.app[SERVICES].timers.scan_once():
        pass


def kinds(case: dict[str, Any]) -> list[str]:
    return [e["kind"] for e in case["timeline"]]
