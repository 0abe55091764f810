"""The customer's side of a handoff (both stores, real HTTP): "转人工" after an FAQ answer
routes on the question asked before it, and the confirmation says — in the customer's
language only — their place in the queue and the expected wait, or that nobody is online."""

from __future__ import annotations

import itertools
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.routing.publisher import MemoryPublisher
from gateway.selfservice.waiting import mark_seen
from gateway.wiring.services import SERVICES
from tests.conftest import eventually
from tests.helpers import ALICE_TOKEN, API_SECRET, auth, signed_api_body
from tests.web.fakes import FakeCallback, start_crm

ROOT = Path(__file__).resolve().parents[2]
_ids = itertools.count(1)
# The shipped rules send everything to after-hours outside 09:00–18:00 Shanghai time: the
# gateway's clock runs from a Wednesday at 10:00 there.
OPEN_DESK = datetime(2026, 3, 11, 2, 0, tzinfo=UTC).timestamp() - time.time()


@pytest.fixture
async def crm(aiohttp_server: Any) -> tuple[FakeCallback, str]:
    return await start_crm(aiohttp_server)


@pytest.fixture
async def client(make_client: Any, crm: tuple[FakeCallback, str]) -> TestClient:
    return await make_client(
        clock=lambda: time.time() + OPEN_DESK,
        channels={"api": {"secret": API_SECRET, "callback_url": crm[1]}},
        routing={"rules": str(ROOT / "config" / "routing.yaml")},
        faq={"file": str(ROOT / "config" / "faq.yaml")},
        reply_tracking={"scan_interval": "0.05s"},
    )


async def say(client: TestClient, user: str, text: str) -> str:
    body, headers = signed_api_body({"id": f"h-{next(_ids)}", "from": {"id": user}, "text": text})
    resp = await client.post("/webhooks/api", data=body, headers=headers)
    assert resp.status == 200, await resp.text()
    return str((await resp.json())["conversation_id"])


def told(crm: tuple[FakeCallback, str], user: str) -> list[str]:
    return [json.loads(body)["text"] for _, body in crm[0].received if json.loads(body)["to"]["id"] == user]


def offers(publisher: MemoryPublisher, queue: str) -> list[dict[str, Any]]:
    return [json.loads(m.body) for m in publisher.queues.get(queue, [])]


async def test_a_failed_payment_question_then_转人工_is_offered_on_the_payments_queue(
    client: TestClient, crm: tuple[FakeCallback, str], publisher: MemoryPublisher
) -> None:
    cid = await say(client, "wang", "付款失败了怎么办？")
    await eventually(lambda: told(crm, "wang"))
    assert "付款失败常见原因" in told(crm, "wang")[0] and "A payment usually fails" not in told(crm, "wang")[0]
    assert publisher.queues.get("general", []) == [] and offers(publisher, "payments-zh") == []

    assert await say(client, "wang", "转人工") == cid
    [offer] = await eventually(lambda: offers(publisher, "payments-zh"))
    assert offer["conversation_id"] == cid and offer["priority"] == 6 and offer["rule"] == "payments-zh"
    assert offer["preview"] == "转人工"  # the agent sees what the customer wrote
    assert offers(publisher, "general") == []
    conv = await (await client.get(f"/api/v1/conversations/{cid}", headers=auth())).json()
    assert conv["queue"] == "payments-zh" and conv["routing"]["rule"] == "payments-zh"


async def test_an_english_question_then_agent_is_offered_on_the_english_payments_queue(
    client: TestClient, crm: tuple[FakeCallback, str], publisher: MemoryPublisher
) -> None:
    cid = await say(client, "kim", "my payment failed, what can I do?")
    await eventually(lambda: told(crm, "kim"))
    assert "A payment usually fails" in told(crm, "kim")[0] and "付款失败" not in told(crm, "kim")[0]
    await say(client, "kim", "agent")
    [offer] = await eventually(lambda: offers(publisher, "payments-en"))
    assert offer["conversation_id"] == cid and offer["priority"] == 6


async def test_the_handoff_confirmation_tells_the_place_in_the_queue_and_the_wait(
    client: TestClient, crm: tuple[FakeCallback, str], publisher: MemoryPublisher
) -> None:
    for user in ("li", "zhao"):  # two customers already waiting for payments
        await say(client, user, "我的付款有问题，请转人工")
    await eventually(lambda: len(offers(publisher, "payments-zh")) == 2)

    # Nobody online: the customer is told their place, and that no one is there now.
    await say(client, "wang", "付款失败了怎么办？")
    await eventually(lambda: told(crm, "wang"))
    await say(client, "wang", "转人工")
    await eventually(lambda: len(told(crm, "wang")) == 2)
    confirmation = told(crm, "wang")[1]
    assert confirmation.startswith("好的，正在为您转接人工客服，请稍候。\n")
    assert "您前面还有 2 位客户在等待。" in confirmation and "目前暂无客服在线" in confirmation
    assert "You are" not in confirmation and "/" not in confirmation

    # alice is online (her console is open) and has claimed one: the wait is estimated.
    await mark_seen(client.app[SERVICES].store, "alice")
    resp = await client.post("/api/v1/agents/me/next", headers=auth(ALICE_TOKEN))
    assert resp.status == 200, await resp.text()
    await say(client, "kim", "payment failed, what now?")
    await eventually(lambda: told(crm, "kim"))
    await say(client, "kim", "I want to talk to an agent")
    await eventually(lambda: len(told(crm, "kim")) == 2)
    confirmation = told(crm, "kim")[1]
    assert confirmation.startswith("OK, we are connecting you to a person, please hold on.\n")
    assert "You are next in the queue." in confirmation  # payments-en: nobody ahead
    assert "The expected wait is about 1 min." in confirmation and "No agent is online" not in confirmation


def test_the_widget_knows_the_rating_request_by_its_flag() -> None:
    from gateway.channels.webchat.frames import RATING_REQUEST_FLAG
    from gateway.selfservice.ratings import REQUEST_FLAG

    assert RATING_REQUEST_FLAG == REQUEST_FLAG


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        ("好的，请稍候。/ OK, please hold on.", "en", "OK, please hold on."),
        ("好的，请稍候。/ OK, please hold on.", "zh", "好的，请稍候。"),
        ("中文一行\nAn English line\nhttps://help.example.com/x", "zh", "中文一行\nhttps://help.example.com/x"),
        ("Only English here.", "zh", "Only English here."),  # nothing in Chinese: sent whole
        ("Rate 1/5 to 5/5", "en", "Rate 1/5 to 5/5"),  # a slash without spaces is no separator
    ],
)
def test_a_two_language_text_is_cut_to_the_customers(text: str, language: str, expected: str) -> None:
    from gateway.selfservice.languages import in_language

    assert in_language(text, language) == expected


async def test_the_widget_says_online_only_while_an_agent_of_the_queue_is_online_and_not_away(
    make_client: Any,
) -> None:
    client = await make_client(channels={"api": {"secret": API_SECRET}, "webchat": {}})

    async def online() -> bool:
        resp = await client.get("/webchat/availability?lang=en&queue=general")
        assert resp.status == 200 and resp.headers["Access-Control-Allow-Origin"] == "*"
        return bool((await resp.json())["online"])

    assert not await online()  # nobody's console is open
    await mark_seen(client.app[SERVICES].store, "alice")
    assert await online()
    resp = await client.post("/api/v1/agents/me/presence", json={"status": "away"}, headers=auth(ALICE_TOKEN))
    assert resp.status < 300, await resp.text()
    assert not await online()  # her console is open, but she is away
