"""Self-service end to end (both stores): FAQ answers at the API callback, handoff, routing,
episodes going quiet, email, FAQ reloads, and the counters behind GET /api/v1/stats."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import os
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.model import Channel
from gateway.routing.publisher import MemoryPublisher
from gateway.selfservice.service import SELF_SERVICE
from gateway.storage.base import DueTimer
from gateway.wiring.services import SERVICES
from tests.conftest import eventually
from tests.helpers import ALICE_TOKEN, API_SECRET, auth, inbound, signed_api_body
from tests.timing import ManualClock
from tests.web.fakes import FakeCallback, FakeEmail, start_crm

ROOT = Path(__file__).resolve().parent.parent.parent
SHIPPED_FAQ = ROOT / "config" / "faq.yaml"
_ids = itertools.count(1)


@pytest.fixture
async def crm(aiohttp_server: Any) -> tuple[FakeCallback, str]:
    return await start_crm(aiohttp_server)


Make = Callable[..., Awaitable[TestClient]]


@pytest.fixture
def gateway(make_client: Make, crm: tuple[FakeCallback, str]) -> Make:
    """A gateway with the API channel calling back the fake CRM, the FAQ on, fast timers."""

    async def make(*, faq: dict[str, Any] | None = None, callback: bool = True, **sections: Any) -> TestClient:
        api: dict[str, Any] = {"secret": API_SECRET}
        if callback:
            api["callback_url"] = crm[1]
        return await make_client(
            channels={"api": api},
            faq={"file": str(SHIPPED_FAQ), "reload_interval": "0.05s", **(faq or {})},
            csat={"enabled": True},
            reply_tracking={"scan_interval": "0.05s"},
            **sections,
        )

    return make


async def say(client: TestClient, user: str, text: str, message_id: str | None = None) -> dict[str, Any]:
    body, headers = signed_api_body({"id": message_id or f"m-{next(_ids)}", "from": {"id": user}, "text": text})
    resp = await client.post("/webhooks/api", data=body, headers=headers)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def conversation(client: TestClient, cid: str) -> dict[str, Any]:
    resp = await client.get(f"/api/v1/conversations/{cid}", headers=auth())
    assert resp.status == 200
    return await resp.json()


async def stats(client: TestClient) -> dict[str, Any]:
    resp = await client.get("/api/v1/stats", headers=auth())
    assert resp.status == 200
    return await resp.json()


async def depth(client: TestClient) -> int:
    data = await (await client.get("/api/v1/queues", headers=auth())).json()
    return sum(q["depth"] for q in data["queues"])


def sent_to_crm(fake: FakeCallback) -> list[dict[str, Any]]:
    """What the CRM received, each checked for a valid signature."""
    out = []
    for headers, body in fake.received:
        expected = "sha256=" + hmac.new(API_SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["X-Gateway-Signature"], expected)
        out.append(json.loads(body))
    return out


async def settle(client: TestClient) -> None:
    """Run whatever timers are due now and let the outbox relay publish."""
    services = client.app[SERVICES]
    await services.timers.scan_once()
    await eventually(lambda: _outbox_empty(services))


async def _outbox_empty(services: Any) -> bool:
    return (await services.store.outbox_stats()).depth == 0


async def test_a_chinese_question_is_answered_at_the_callback_and_never_offered(
    gateway: Make, crm: tuple[FakeCallback, str], publisher: MemoryPublisher
) -> None:
    client = await gateway()
    assert await depth(client) == 0
    cid = (await say(client, "u1", "我忘记密码了，怎么重置？"))["conversation_id"]
    await eventually(lambda: crm[0].received)
    [answer] = sent_to_crm(crm[0])
    assert answer["conversation_id"] == cid and answer["to"] == {"id": "u1"}
    # In the customer's language only: the Chinese half of the entry and of the hint.
    assert "账户安全" in answer["text"] and "Account security" not in answer["text"]
    assert answer["text"].endswith("回复“人工”转人工客服") and "Reply" not in answer["text"]
    assert answer["sender"]["kind"] == "bot" and "auto" in answer["flags"] and "faq:reset-password" in answer["flags"]

    await settle(client)
    assert publisher.queues["general"] == [] and await depth(client) == 0
    assert any(e.routing_key == "message.inbound" for e in publisher.events)
    conv = await conversation(client, cid)
    assert conv["flags"] == ["self_service"] and conv["queue"] is None and conv["routing_version"] == 0
    assert conv["reply_tracking"]["state"] == "none" and conv["status"] == "open"
    assert conv["attributes"]["self_service"]["entries"] == ["reset-password"]
    assert [(m["direction"], m["sender"]["kind"]) for m in conv["messages"]] == [
        ("inbound", "customer"),
        ("outbound", "bot"),
    ]
    await eventually(lambda: _message_status(client, cid, 1, "sent"))
    assert (await stats(client))["self_service"]["answered"] == 1


async def _message_status(client: TestClient, cid: str, index: int, status: str) -> bool:
    return (await conversation(client, cid))["messages"][index]["status"] == status


async def test_an_english_question_then_agent_hands_over_with_the_faq_exchange_in_the_history(
    gateway: Make, crm: tuple[FakeCallback, str], publisher: MemoryPublisher
) -> None:
    client = await gateway()
    cid = (await say(client, "u2", "How do I reset my password?"))["conversation_id"]
    await eventually(lambda: crm[0].received)
    assert "Forgot password" in sent_to_crm(crm[0])[0]["text"]
    again = await say(client, "u2", "I need an agent please")
    assert again["conversation_id"] == cid

    offers = await eventually(lambda: publisher.queues["general"])
    offer = json.loads(offers[0].body)
    assert offer["conversation_id"] == cid and offer["reason"] == "new" and offer["preview"] == "I need an agent please"
    assert await depth(client) == 1
    await eventually(lambda: len(crm[0].received) == 2)
    confirmation = sent_to_crm(crm[0])[1]["text"]
    assert "connecting you to a person" in confirmation and "转接" not in confirmation
    assert "You are next in the queue." in confirmation and "No agent is online right now" in confirmation
    conv = await conversation(client, cid)
    assert conv["flags"] == [] and conv["queue"] == "general" and conv["reply_tracking"]["state"] == "active"
    assert conv["attributes"]["self_service"]["state"] == "handed_off"
    assert conv["attributes"]["self_service"]["handoff"] == "asked"
    history = [(m["direction"], m["sender"]["kind"], m["text"]) for m in conv["messages"]]
    assert history[0] == ("inbound", "customer", "How do I reset my password?")
    assert history[1][:2] == ("outbound", "bot") and "Forgot password" in history[1][2]
    assert history[2] == ("inbound", "customer", "I need an agent please")
    assert history[3][:2] == ("outbound", "bot")  # the handoff confirmation
    assert (await stats(client))["self_service"]["handed_off"] == 1

    # the agent takes it from here: an ordinary claim and reply
    claim = await client.post(
        f"/api/v1/conversations/{cid}/claim", json={"routing_version": 1}, headers=auth(ALICE_TOKEN)
    )
    assert claim.status == 200


async def test_人工_hands_over_and_the_agent_sees_question_and_answer(
    gateway: Make, crm: tuple[FakeCallback, str], publisher: MemoryPublisher
) -> None:
    client = await gateway()
    cid = (await say(client, "u3", "退款多久到账"))["conversation_id"]
    await eventually(lambda: crm[0].received)
    await say(client, "u3", "人工")
    await eventually(lambda: publisher.queues["general"])
    conv = await conversation(client, cid)
    assert [m["text"] for m in conv["messages"]][:1] == ["退款多久到账"]
    assert "1–5 个工作日" in conv["messages"][1]["text"] and conv["messages"][1]["sender"]["kind"] == "bot"
    assert conv["messages"][2]["text"] == "人工"
    assert json.loads(publisher.queues["general"][0].body)["preview"] == "人工"


async def test_a_question_the_faq_cannot_answer_is_routed_as_before(
    gateway: Make, crm: tuple[FakeCallback, str], publisher: MemoryPublisher
) -> None:
    client = await gateway()
    cid = (await say(client, "u4", "我的卡被盗刷了，快帮我"))["conversation_id"]
    offers = await eventually(lambda: publisher.queues["general"])
    assert json.loads(offers[0].body)["conversation_id"] == cid
    await settle(client)
    conv = await conversation(client, cid)
    assert crm[0].received == [] and len(conv["messages"]) == 1 and conv["flags"] == []
    assert conv["reply_tracking"]["state"] == "active"
    # a first message that asks for a person goes to one, FAQ keywords or not
    other = (await say(client, "u5", "转人工，退款的事"))["conversation_id"]
    await eventually(lambda: len(publisher.queues["general"]) == 2)
    await settle(client)
    assert crm[0].received == [] and (await conversation(client, other))["queue"] == "general"


async def test_follow_ups_a_new_question_is_answered_thanks_are_quiet_the_same_question_hands_over(
    gateway: Make, crm: tuple[FakeCallback, str], publisher: MemoryPublisher
) -> None:
    client = await gateway()
    cid = (await say(client, "u6", "怎么重置密码"))["conversation_id"]
    await eventually(lambda: len(crm[0].received) == 1)
    await say(client, "u6", "好的，谢谢！")
    await settle(client)
    assert len(crm[0].received) == 1 and publisher.queues["general"] == []
    await say(client, "u6", "另外，退款多久到账？")
    await eventually(lambda: len(crm[0].received) == 2)
    assert "faq:refund-time" in sent_to_crm(crm[0])[1]["flags"]
    conv = await conversation(client, cid)
    assert conv["attributes"]["self_service"]["entries"] == ["reset-password", "refund-time"]
    assert publisher.queues["general"] == []
    await say(client, "u6", "退款还是没到账啊")  # the refund answer did not help
    await eventually(lambda: publisher.queues["general"])
    await settle(client)
    conv = await conversation(client, cid)
    assert conv["attributes"]["self_service"]["handoff"] == "repeated" and conv["flags"] == []
    assert len(crm[0].received) == 2  # no confirmation: they did not ask for a person
    data = (await stats(client))["self_service"]
    assert data["answered"] == 1 and data["answers_sent"] == 2 and data["handed_off"] == 1


async def test_a_quiet_episode_is_resolved_as_deflected_and_a_later_message_reopens(
    gateway: Make, crm: tuple[FakeCallback, str], publisher: MemoryPublisher
) -> None:
    client = await gateway(faq={"idle_resolve": "0.5s"})
    cid = (await say(client, "u7", "手续费怎么收"))["conversation_id"]
    await eventually(lambda: _status(client, cid, "resolved"))
    await settle(client)
    assert len(crm[0].received) == 1  # the answer; a self-service resolve asks for no rating
    data = await stats(client)
    assert data["self_service"]["deflected"] == 1 and data["self_service"]["deflection_rate"] == 1.0
    assert data["ratings"]["requested"] == 0 and data["ratings"]["skipped"] == 0
    assert any(
        json.loads(e.body).get("by") == "self-service"
        for e in publisher.events
        if e.routing_key == "conversation.resolved"
    )

    again = await say(client, "u7", "人工")
    assert again["conversation_id"] == cid
    offers = await eventually(lambda: publisher.queues["general"])
    assert json.loads(offers[0].body)["reason"] == "reopened"
    conv = await conversation(client, cid)
    assert conv["status"] == "open" and conv["flags"] == [] and len(conv["messages"]) == 3
    data = (await stats(client))["self_service"]
    assert data["handed_off"] == 0 and data["new_requests"] == 2 and data["deflection_share"] == 0.5


async def _status(client: TestClient, cid: str, status: str) -> bool:
    return (await conversation(client, cid))["status"] == status


async def test_stats_count_deflections_handoffs_and_new_requests(
    gateway: Make, crm: tuple[FakeCallback, str], publisher: MemoryPublisher
) -> None:
    client = await gateway(faq={"idle_resolve": "1s"})
    deflected = (await say(client, "a", "What are your fees?"))["conversation_id"]
    handed = (await say(client, "b", "怎么绑卡"))["conversation_id"]
    await say(client, "b", "绑卡失败还是不行，需要 human")
    await say(client, "c", "这笔交易我要投诉")
    await eventually(lambda: _status(client, deflected, "resolved"))
    await settle(client)
    data = await stats(client)
    assert data["self_service"] == {
        "enabled": True,
        "answered": 2,
        "answers_sent": 2,
        "deflected": 1,
        "handed_off": 1,
        "undelivered": 0,
        "in_progress": 0,
        "deflection_rate": 0.5,
        "new_requests": 3,
        "deflection_share": 0.3333,
        "faq": data["self_service"]["faq"],
    }
    assert data["self_service"]["faq"]["entries"] == 10 and data["self_service"]["faq"]["error"] is None
    assert data["reply_tracking"]["offered"] == 2
    assert (await conversation(client, handed))["queue"] == "general"
    assert (await client.get("/api/v1/stats", headers=auth(ALICE_TOKEN))).status == 403
    assert (await client.get("/api/v1/stats")).status == 401


async def test_an_answer_that_cannot_be_delivered_goes_to_agents_when_the_episode_goes_quiet(
    gateway: Make, crm: tuple[FakeCallback, str], publisher: MemoryPublisher
) -> None:
    crm[0].statuses = [400]
    client = await gateway(faq={"idle_resolve": "0.5s"})
    cid = (await say(client, "u8", "付款失败怎么办"))["conversation_id"]
    offers = await eventually(lambda: publisher.queues["general"])
    assert json.loads(offers[0].body)["conversation_id"] == cid and json.loads(offers[0].body)["reason"] == "new"
    conv = await conversation(client, cid)
    assert conv["messages"][1]["status"] == "failed" and conv["status"] == "open"
    assert (await stats(client))["self_service"]["undelivered"] == 1
    claim = await client.post(f"/api/v1/conversations/{cid}/claim", json={}, headers=auth(ALICE_TOKEN))
    assert claim.status == 200
    await say(client, "u8", "还在吗？")  # a person has it now: the flag goes with the next message
    conv = await conversation(client, cid)
    assert conv["flags"] == [] and conv["assignee"] == "alice" and len(crm[0].received) == 1


async def test_without_a_callback_the_api_channel_cannot_answer_so_it_routes(
    gateway: Make, publisher: MemoryPublisher
) -> None:
    client = await gateway(callback=False)
    cid = (await say(client, "u9", "怎么重置密码"))["conversation_id"]
    await eventually(lambda: publisher.queues["general"])
    assert (await conversation(client, cid))["flags"] == []


async def test_a_redelivered_question_is_answered_once_and_a_rerun_timer_sends_nothing(
    gateway: Make, crm: tuple[FakeCallback, str]
) -> None:
    client = await gateway()
    results = await asyncio.gather(*(say(client, "u10", "重置密码", message_id="same-id") for _ in range(5)))
    cid = results[0]["conversation_id"]
    assert sum(not r["duplicate"] for r in results) == 1
    await eventually(lambda: crm[0].received)
    service = client.app[SELF_SERVICE]
    token = (await conversation(client, cid))["attributes"]["self_service"]["episode"]
    timer = DueTimer(member=f"faq_answer|{cid}|{token}:1:reset-password", due_ms=0)
    assert await service.on_answer(timer, 0) is None
    await settle(client)
    assert len(crm[0].received) == 1
    data = (await stats(client))["self_service"]
    assert data["answered"] == 1 and data["answers_sent"] == 1


async def test_email_gets_no_answers_unless_enabled(gateway: Make) -> None:
    off = await gateway()
    adapter = FakeEmail()
    off.app[SERVICES].adapters.append(adapter)
    mail = inbound(channel=Channel.EMAIL, sender=("email", "li@example.com"), text="How do I reset my password?")
    result = await off.app[SERVICES].ingest.accept(mail)
    await settle(off)
    assert (await conversation(off, result.conversation_id))["queue"] == "general" and adapter.sent == []


async def test_enabled_email_gets_answers_but_never_loop_guarded_mail(gateway: Make) -> None:
    on = await gateway(faq={"email": True})
    adapter = FakeEmail()
    services = on.app[SERVICES]
    services.adapters.append(adapter)
    auto = inbound(
        channel=Channel.EMAIL,
        sender=("email", "robot@example.com"),
        text="Auto-reply: reset password",
        route=False,
        flags=["loop-guard"],
    )
    guarded = await services.ingest.accept(auto)
    answered = await services.ingest.accept(
        inbound(channel=Channel.EMAIL, sender=("email", "wang@example.com"), text="忘记密码了")
    )
    await eventually(lambda: adapter.sent)
    await settle(on)
    assert [r.recipient.key for r in adapter.sent] == ["email:wang@example.com"]
    assert "auto" in adapter.sent[0].message.flags and "账户安全" in adapter.sent[0].message.text
    assert (await conversation(on, guarded.conversation_id))["flags"] == []
    assert (await conversation(on, answered.conversation_id))["flags"] == ["self_service"]


class LimitedEmail(FakeEmail):
    def auto_reply_allowed(self, address: str, inbound_flags: list[str]) -> bool:
        return False  # the per-address limit is used up


async def test_email_over_its_automatic_reply_limit_goes_to_a_person(gateway: Make) -> None:
    client = await gateway(faq={"email": True})
    services = client.app[SERVICES]
    adapter = LimitedEmail()
    services.adapters.append(adapter)
    result = await services.ingest.accept(
        inbound(channel=Channel.EMAIL, sender=("email", "zhao@example.com"), text="忘记密码了")
    )
    await settle(client)
    assert adapter.sent == [] and (await conversation(client, result.conversation_id))["queue"] == "general"


SMALL = """\
entries:
  - id: refund
    keywords: [退款, refund]
    answer: "{answer}"
"""


def replace_file(path: Path, text: str) -> None:
    """Write a new version as an editor or deploy tool does: whole, then renamed over the old
    one, so the watcher never reads a file half written (write_text truncates first)."""
    part = path.with_name(path.name + ".part")
    part.write_text(text, encoding="utf-8")
    os.replace(part, path)


async def test_a_changed_faq_file_answers_anew_and_a_broken_one_keeps_the_old_answers(
    gateway: Make, crm: tuple[FakeCallback, str], tmp_path: Path
) -> None:
    path = tmp_path / "faq.yaml"
    path.write_text(SMALL.format(answer="旧的答案 / old answer"), encoding="utf-8")
    client = await gateway(faq={"file": str(path)})
    service = client.app[SELF_SERVICE]
    await say(client, "r1", "refund?")
    await eventually(lambda: crm[0].received)
    assert sent_to_crm(crm[0])[0]["text"].startswith("old answer")  # asked in English: the English side
    assert "旧的答案" not in sent_to_crm(crm[0])[0]["text"]

    first_version = service.library.book.version
    replace_file(path, SMALL.format(answer="新的答案：3 个工作日 / new answer: 3 business days"))
    await eventually(lambda: service.library.book.version != first_version)
    await say(client, "r2", "退款")
    await eventually(lambda: len(crm[0].received) == 2)
    assert sent_to_crm(crm[0])[1]["text"].startswith("新的答案：3 个工作日")

    replace_file(path, "entries:\n  - id: refund\n    keywords: [退款]\n")
    await eventually(lambda: service.library.error)
    faq = (await stats(client))["self_service"]["faq"]
    assert f"{path}:2: entries[0].answer" in faq["error"] and faq["entries"] == 1
    await say(client, "r3", "refund please")
    await eventually(lambda: len(crm[0].received) == 3)
    assert sent_to_crm(crm[0])[2]["text"].startswith("new answer: 3 business days")  # the kept answers, in English

    path.unlink()
    await eventually(lambda: "no such file" in (service.library.error or ""))
    shutil.copy(SHIPPED_FAQ, path)
    await eventually(lambda: len(service.library.book.entries) == 10)
    assert service.library.error is None


async def test_after_the_reopen_window_an_faq_question_starts_a_new_conversation_and_keeps_the_exchange(
    gateway: Make, crm: tuple[FakeCallback, str], publisher: MemoryPublisher
) -> None:
    clock = ManualClock()
    client = await gateway(routing={"rules": None, "reopen_window": "1s"}, clock=clock)
    old = (await say(client, "w1", "我的卡被盗刷了"))["conversation_id"]
    assert (await client.post(f"/api/v1/conversations/{old}/resolve", headers=auth())).status == 200
    clock.advance(1.2)
    new = (await say(client, "w1", "怎么重置密码"))["conversation_id"]
    assert new != old  # a request: too late to reopen, so a new conversation, not offered
    await eventually(lambda: crm[0].received)
    assert (await say(client, "w1", "人工"))["conversation_id"] == new
    conv = await conversation(client, new)
    assert conv["queue"] == "general" and conv["status"] == "open"
    texts = [m["text"] for m in conv["messages"]]
    assert texts[0] == "怎么重置密码" and "人工" in texts  # the FAQ exchange is in the agent's history
    assert (await conversation(client, old))["status"] == "resolved"
