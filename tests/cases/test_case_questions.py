"""A customer asks where their case stands, and the gateway answers at once — no agent
needed — with stage, latest note and expected date; a number that is not theirs reveals
nothing. Both stores, answers read at the API channel's callback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.app import build_app
from gateway.routing.publisher import MemoryPublisher
from gateway.storage.base import Store
from tests.cases.support import call, case_of, kinds, open_case, say, settle, write_workflow
from tests.conftest import eventually
from tests.helpers import API_SECRET, OPS_TOKEN, gateway_config
from tests.web.fakes import FakeCallback, start_crm


@pytest.fixture
async def crm(aiohttp_server: Any) -> tuple[FakeCallback, str]:
    return await start_crm(aiohttp_server)


@pytest.fixture
def publisher() -> MemoryPublisher:
    return MemoryPublisher()


@pytest.fixture
async def client(
    aiohttp_client: Any, store: Store, crm: tuple[FakeCallback, str], publisher: MemoryPublisher, tmp_path: Path
) -> TestClient:
    config = gateway_config(
        channels={"api": {"secret": API_SECRET, "callback_url": crm[1]}},
        reply_tracking={"scan_interval": "0.05s"},
        cases={"file": str(write_workflow(tmp_path))},
    )
    return await aiohttp_client(build_app(config, store=store, publisher=publisher))


def answers_to(crm: tuple[FakeCallback, str], cid: str) -> list[str]:
    return [json.loads(body)["text"] for _, body in crm[0].received if json.loads(body)["conversation_id"] == cid]


def offers(publisher: MemoryPublisher) -> list[dict[str, Any]]:
    return [json.loads(m.body) for m in publisher.queues.get("general", [])]


async def a_case(client: TestClient, user: str, summary: str) -> tuple[str, str]:
    cid = (await say(client, user, "我要投诉，重复扣款"))["conversation_id"]
    number = (await open_case(client, cid, summary=summary, token=OPS_TOKEN))["number"]
    return cid, number


async def test_asking_for_progress_is_answered_at_once_without_an_agent(
    client: TestClient, crm: tuple[FakeCallback, str], publisher: MemoryPublisher
) -> None:
    cid, number = await a_case(client, "wang", "订单 7 重复扣款")
    await call(client, "POST", f"/api/v1/cases/{number}/progress", OPS_TOKEN, json={"note": "已向银行调取凭证"})
    await eventually(lambda: len(answers_to(crm, cid)) == 2)
    offered = len(offers(publisher))

    await say(client, "wang", "我的投诉进度怎么样了？")
    await eventually(lambda: len(answers_to(crm, cid)) == 3)
    answer = answers_to(crm, cid)[2]
    assert number in answer and "已受理" in answer and "已向银行调取凭证" in answer and "年" in answer
    await settle(client)
    assert len(offers(publisher)) == offered  # not put in front of an agent: it was answered
    conv = (await call(client, "GET", f"/api/v1/conversations/{cid}", OPS_TOKEN))[1]
    assert conv["messages"][-1]["flags"][:2] == ["auto", "case"] and conv["messages"][-1]["sender"]["kind"] == "bot"
    case = await case_of(client, number, OPS_TOKEN)
    assert kinds(case)[-1] == "customer_asked"

    await say(client, "wang", f"请问 {number.lower().replace('-', ' - ')} 处理到哪一步了")  # typed loosely
    await eventually(lambda: len(answers_to(crm, cid)) == 4)
    assert number in answers_to(crm, cid)[3] and "已向银行调取凭证" in answers_to(crm, cid)[3]

    await say(client, "wang", "status")
    await eventually(lambda: len(answers_to(crm, cid)) == 5)
    assert number in answers_to(crm, cid)[4]


async def test_another_customers_number_reveals_nothing(
    client: TestClient, crm: tuple[FakeCallback, str], publisher: MemoryPublisher
) -> None:
    _, theirs = await a_case(client, "li", "李的秘密投诉：商户 A 拒绝退款")
    cid, mine = await a_case(client, "zhao", "赵的投诉")
    await eventually(lambda: len(answers_to(crm, cid)) == 1)
    missing = theirs[:-4] + "9999"
    await say(client, "zhao", f"查一下 {theirs}")
    await say(client, "zhao", f"查一下 {missing}")
    await eventually(lambda: len(answers_to(crm, cid)) == 3)
    about_theirs = next(a for a in answers_to(crm, cid) if theirs in a)
    about_missing = next(a for a in answers_to(crm, cid) if missing in a)
    assert about_theirs.replace(theirs, "<n>") == about_missing.replace(missing, "<n>")  # the same words either way
    assert "商户 A" not in about_theirs and "已受理" not in about_theirs and mine not in about_theirs
    case = await case_of(client, theirs, OPS_TOKEN)
    assert "customer_asked" not in kinds(case) and case["conversations"] == [case["conversation_id"]]
    # a person may still help (a customer writing from a new address): it goes to agents as usual
    conv = (await call(client, "GET", f"/api/v1/conversations/{cid}", OPS_TOKEN))[1]
    assert conv["reply_tracking"]["state"] == "active"


async def test_a_stranger_naming_a_number_is_told_nothing(client: TestClient, crm: tuple[FakeCallback, str]) -> None:
    _, number = await a_case(client, "owner", "投诉内容")
    stranger = (await say(client, "stranger", f"{number} 进度"))["conversation_id"]
    await eventually(lambda: answers_to(crm, stranger))
    [answer] = answers_to(crm, stranger)
    assert answer.startswith("没有找到与您的联系方式相符的案件") and "投诉内容" not in answer


async def test_no_open_case_or_a_long_message_goes_to_agents_as_usual(
    client: TestClient, crm: tuple[FakeCallback, str], publisher: MemoryPublisher
) -> None:
    cid = (await say(client, "plain", "查询余额"))["conversation_id"]  # no case: an ordinary message
    await settle(client)
    await eventually(lambda: [o["conversation_id"] for o in offers(publisher)] == [cid])
    assert answers_to(crm, cid) == []
    _, number = await a_case(client, "busy", "投诉")
    busy = (await call(client, "GET", f"/api/v1/cases/{number}", OPS_TOKEN))[1]["conversation_id"]
    await eventually(lambda: len(answers_to(crm, busy)) == 1)
    long = "关于进度我还想补充一些情况：" + "商户说已经退款但是我的银行卡一直没有收到这笔钱，" * 3
    await say(client, "busy", long)
    await settle(client)
    assert len(answers_to(crm, busy)) == 1  # not answered automatically: an agent reads it
