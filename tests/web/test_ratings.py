"""Ratings (CSAT) end to end (both stores): the request after a resolve, the score that
does not reopen, late and other replies that do, closed windows, loop guards, stats."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.app import build_app
from gateway.model import Channel
from gateway.routing.publisher import MemoryPublisher
from gateway.selfservice.ratings import RATINGS, parse_rating
from gateway.storage.base import DueTimer, Store
from gateway.wiring.services import SERVICES
from tests.conftest import eventually
from tests.helpers import ALICE_TOKEN, API_SECRET, auth, gateway_config, inbound, signed_api_body
from tests.web.fakes import FakeCallback, FakeEmail, FakeWhatsApp, start_crm

ROOT = Path(__file__).resolve().parent.parent.parent
_ids = itertools.count(1)


class Clock:
    """Real time plus an offset the test moves forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@pytest.fixture
async def crm(aiohttp_server: Any) -> tuple[FakeCallback, str]:
    return await start_crm(aiohttp_server)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def gateway(aiohttp_client: Any, store: Store, publisher: MemoryPublisher, crm: tuple[FakeCallback, str], clock: Clock):  # type: ignore[no-untyped-def]
    async def make(**sections: Any) -> TestClient:
        config = gateway_config(
            channels={"api": {"secret": API_SECRET, "callback_url": crm[1]}},
            reply_tracking={"scan_interval": "0.05s"},
            **{"csat": {"enabled": True}, **sections},
        )
        return await aiohttp_client(build_app(config, store=store, publisher=publisher, clock=clock))

    return make


async def say(client: TestClient, user: str, text: str) -> dict[str, Any]:
    body, headers = signed_api_body({"id": f"r-{next(_ids)}", "from": {"id": user}, "text": text})
    resp = await client.post("/webhooks/api", data=body, headers=headers)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def conversation(client: TestClient, cid: str) -> dict[str, Any]:
    return await (await client.get(f"/api/v1/conversations/{cid}", headers=auth())).json()


async def ratings(client: TestClient) -> dict[str, Any]:
    return (await (await client.get("/api/v1/stats", headers=auth())).json())["ratings"]


def crm_texts(fake: FakeCallback) -> list[str]:
    return [json.loads(body)["text"] for _, body in fake.received]


async def served_and_resolved(client: TestClient, user: str = "c1", text: str = "我的转账一直在处理中") -> str:
    """A conversation an agent answered and resolved."""
    cid = (await say(client, user, text))["conversation_id"]
    reply = await client.post(
        f"/api/v1/conversations/{cid}/messages", json={"text": "已为您加急处理"}, headers=auth(ALICE_TOKEN)
    )
    assert reply.status == 202
    resolved = await client.post(f"/api/v1/conversations/{cid}/resolve", headers=auth(ALICE_TOKEN))
    assert resolved.status == 200
    return cid


async def settle(client: TestClient) -> None:
    await client.app[SERVICES].timers.scan_once()


def offers(publisher: MemoryPublisher) -> list[dict[str, Any]]:
    return [json.loads(m.body) for m in publisher.queues.get("general", [])]


async def test_after_a_resolve_the_customer_is_asked_and_5_is_recorded_without_reopening(
    gateway: Any, crm: tuple[FakeCallback, str], publisher: MemoryPublisher
) -> None:
    client = await gateway()
    cid = await served_and_resolved(client)
    await eventually(lambda: len(crm[0].received) == 2)
    request = json.loads(crm[0].received[1][1])
    assert request["text"].startswith("请为本次服务评分") and "Please rate our service" not in request["text"]
    assert request["conversation_id"] == cid and {"auto", "csat-request"} <= set(request["flags"])
    assert request["sender"]["kind"] == "bot"

    assert (await say(client, "c1", "５"))["conversation_id"] == cid
    await eventually(lambda: len(crm[0].received) == 3)
    assert crm_texts(crm[0])[2] == "感谢您的评价！"  # the customer wrote Chinese
    conv = await conversation(client, cid)
    assert conv["status"] == "resolved" and conv["attributes"]["rating"]["score"] == 5
    assert conv["attributes"]["rating"]["comment"] is None
    assert conv["reply_tracking"]["state"] == "none"
    await eventually(lambda: any(e.routing_key == "message.inbound" for e in publisher.events[-3:]))
    assert [o["reason"] for o in offers(publisher)] == ["new"]  # no reopening offer
    data = await ratings(client)
    assert data == {
        "enabled": True,
        "requested": 1,
        "skipped": 0,
        "responses": 1,
        "distribution": {"1": 0, "2": 0, "3": 0, "4": 0, "5": 1},
        "average": 5.0,
        "response_rate": 1.0,
    }

    # a second reply is a message like any other: it reopens
    await say(client, "c1", "3")
    conv = await conversation(client, cid)
    assert conv["status"] == "open" and conv["attributes"]["rating"]["score"] == 5
    await eventually(lambda: [o["reason"] for o in offers(publisher)] == ["new", "reopened"])
    assert (await ratings(client))["responses"] == 1


async def test_a_comment_after_the_score_is_kept_and_the_average_is_over_all_ratings(
    gateway: Any, crm: tuple[FakeCallback, str]
) -> None:
    client = await gateway()
    first = await served_and_resolved(client, "c2")
    second = await served_and_resolved(client, "c3")
    await eventually(lambda: len(crm[0].received) == 4)
    await say(client, "c2", "4 还行，就是有点慢")
    await say(client, "c3", "⭐⭐")
    await eventually(lambda: len(crm[0].received) == 6)
    assert (await conversation(client, first))["attributes"]["rating"]["comment"] == "还行，就是有点慢"
    assert (await conversation(client, second))["attributes"]["rating"]["score"] == 2
    data = await ratings(client)
    assert data["distribution"] == {"1": 0, "2": 1, "3": 0, "4": 1, "5": 0} and data["average"] == 3.0


async def test_text_instead_of_a_score_reopens_as_usual(
    gateway: Any, crm: tuple[FakeCallback, str], publisher: MemoryPublisher
) -> None:
    client = await gateway()
    cid = await served_and_resolved(client, "c4")
    await eventually(lambda: len(crm[0].received) == 2)
    await say(client, "c4", "3天了还是没到账")
    conv = await conversation(client, cid)
    assert conv["status"] == "open" and "rating" not in conv["attributes"]
    await eventually(lambda: [o["reason"] for o in offers(publisher)] == ["new", "reopened"])
    assert (await ratings(client))["responses"] == 0


async def test_a_score_after_the_rating_window_reopens(
    gateway: Any, crm: tuple[FakeCallback, str], clock: Clock, publisher: MemoryPublisher
) -> None:
    client = await gateway(csat={"enabled": True, "window": "24h"})
    cid = await served_and_resolved(client, "c5")
    await eventually(lambda: len(crm[0].received) == 2)
    clock.offset = 25 * 3600
    await say(client, "c5", "5")
    conv = await conversation(client, cid)
    assert conv["status"] == "open" and "rating" not in conv["attributes"]
    assert (await ratings(client))["responses"] == 0


async def test_no_request_when_the_messaging_window_has_closed(gateway: Any, publisher: MemoryPublisher) -> None:
    client = await gateway()
    services = client.app[SERVICES]
    adapter = FakeWhatsApp()
    services.adapters.append(adapter)
    old = await services.ingest.accept(
        inbound(channel=Channel.WHATSAPP, sender=("phone", "+8613900139000"), provider_ts="2020-01-01T00:00:00Z")
    )
    url = f"/api/v1/conversations/{old.conversation_id}"
    template = {"name": "support_followup", "language": "zh_CN", "params": ["李女士"]}
    assert (await client.post(f"{url}/messages", json={"template": template}, headers=auth(ALICE_TOKEN))).status == 202
    assert (await client.post(f"{url}/resolve", headers=auth(ALICE_TOKEN))).status == 200
    await eventually(lambda: _skipped(client))
    await settle(client)
    assert [r.message.template for r in adapter.sent] == [template]  # the template only
    messages = (await conversation(client, old.conversation_id))["messages"]
    assert not any("csat-request" in m["flags"] for m in messages)
    metrics = await (await client.get("/metrics")).text()
    assert 'gateway_csat_requests_total{outcome="window_closed"}' in metrics


async def _skipped(client: TestClient) -> bool:
    return (await ratings(client))["skipped"] == 1


async def test_no_request_without_an_agent_reply_and_then_a_number_is_just_a_message(
    gateway: Any, crm: tuple[FakeCallback, str]
) -> None:
    client = await gateway()
    cid = (await say(client, "c6", "spam spam"))["conversation_id"]
    assert (await client.post(f"/api/v1/conversations/{cid}/resolve", headers=auth())).status == 200
    await eventually(lambda: _skipped(client))
    assert crm[0].received == []
    await say(client, "c6", "5")
    assert (await conversation(client, cid))["status"] == "open"


async def test_no_request_when_the_customer_last_wrote_through_an_auto_reply(gateway: Any) -> None:
    client = await gateway()
    services = client.app[SERVICES]
    adapter = FakeEmail()
    services.adapters.append(adapter)
    mail = await services.ingest.accept(
        inbound(channel=Channel.EMAIL, sender=("email", "li@example.com"), own_thread_ids=["<q@example.com>"])
    )
    cid = mail.conversation_id
    reply = await client.post(f"/api/v1/conversations/{cid}/messages", json={"text": "您好"}, headers=auth(ALICE_TOKEN))
    assert reply.status == 202
    await services.ingest.accept(
        inbound(
            channel=Channel.EMAIL,
            sender=("email", "li@example.com"),
            text="I am out of office",
            thread_refs=["<q@example.com>"],
            route=False,
            flags=["loop-guard", "auto-reply"],
        )
    )
    assert (await client.post(f"/api/v1/conversations/{cid}/resolve", headers=auth(ALICE_TOKEN))).status == 200
    await eventually(lambda: _skipped(client))
    await settle(client)
    assert len(adapter.sent) == 1 and adapter.sent[0].message.text == "您好"


async def test_the_request_goes_out_once_however_often_its_timer_runs(
    gateway: Any, crm: tuple[FakeCallback, str]
) -> None:
    client = await gateway()
    cid = await served_and_resolved(client, "c7")
    await eventually(lambda: len(crm[0].received) == 2)
    service = client.app[RATINGS]
    for _ in range(3):
        assert (
            await service.on_request(DueTimer(member=f"csat_request|{cid}|1", due_ms=0), int(time.time() * 1000))
            is None
        )
    await settle(client)
    assert len(crm[0].received) == 2 and (await ratings(client))["requested"] == 1


async def test_without_a_csat_section_nobody_is_asked(
    aiohttp_client: Any, store: Store, publisher: MemoryPublisher, crm: tuple[FakeCallback, str]
) -> None:
    config = gateway_config(channels={"api": {"secret": API_SECRET, "callback_url": crm[1]}})
    client = await aiohttp_client(build_app(config, store=store, publisher=publisher))
    cid = await served_and_resolved(client, "c8")
    await eventually(lambda: crm[0].received)
    await settle(client)
    assert len(crm[0].received) == 1 and (await ratings(client))["enabled"] is False
    await say(client, "c8", "5")
    assert (await conversation(client, cid))["status"] == "open"


async def test_with_the_faq_on_a_score_is_a_rating_and_a_question_after_it_gets_an_answer(
    gateway: Any, crm: tuple[FakeCallback, str], publisher: MemoryPublisher
) -> None:
    client = await gateway(faq={"file": str(ROOT / "config" / "faq.yaml")})
    cid = await served_and_resolved(client, "c9", "我的卡被盗刷了")  # no FAQ answer: a person
    await eventually(lambda: len(crm[0].received) == 2)
    await say(client, "c9", "5分")
    await eventually(lambda: len(crm[0].received) == 3)
    await say(client, "c9", "另外怎么修改密码？")
    await eventually(lambda: len(crm[0].received) == 4)
    assert "账户安全" in crm_texts(crm[0])[3]
    conv = await conversation(client, cid)
    assert conv["attributes"]["rating"]["score"] == 5 and conv["flags"] == ["self_service"]
    assert conv["status"] == "open" and conv["assignee"] is None  # reopened for the FAQ; not offered
    assert [o["reason"] for o in offers(publisher)] == ["new"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5", (5, "")),
        ("５", (5, "")),
        ("5分", (5, "")),
        ("五星", (5, "")),
        ("五星好评", (5, "好评")),
        ("一分", (1, "")),
        ("5/5", (5, "")),
        ("4 stars", (4, "")),
        ("满分！", (5, "")),
        ("⭐️⭐️⭐️⭐️⭐️", (5, "")),
        ("★★★☆☆", (3, "")),
        ("4 还行，就是有点慢", (4, "还行，就是有点慢")),
        ("３，太慢了！", (3, "太慢了！")),
        ("2 - agent was rude", (2, "agent was rude")),
    ],
)
def test_scores_the_customer_may_write(text: str, expected: tuple[int, str]) -> None:
    assert parse_rating(text) == expected


@pytest.mark.parametrize(
    "text",
    ["0", "6", "10", "4.5", "5,000", "3天了还没到账", "3 天了", "5分钟前付款失败", "5块", "2 笔扣款", "5 dollars",
     "5 pm", "5x", "我给5分", "five", "👍", "☆☆☆", "", "  "],
)  # fmt: skip
def test_numbers_that_are_not_scores(text: str) -> None:
    assert parse_rating(text) is None
