"""A case from opening to the rating, through the HTTP API (both stores): what the customer
is told at each step (at the API channel's callback), the timeline, the events, the
refusals, reopening and closing."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient

from gateway.app import build_app
from gateway.routing.publisher import MemoryPublisher
from gateway.storage.base import Store
from gateway.wiring.services import SERVICES
from tests.cases.support import DAY, WORKFLOW, Clock, call, case_of, kinds, open_case, say, settle, write_workflow
from tests.conftest import eventually
from tests.helpers import ALICE_TOKEN, API_SECRET, BOB_TOKEN, OPS_TOKEN, gateway_config
from tests.web.fakes import FakeCallback, start_crm

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
async def crm(aiohttp_server: Any) -> tuple[FakeCallback, str]:
    return await start_crm(aiohttp_server)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def client(
    aiohttp_client: Any, store: Store, crm: tuple[FakeCallback, str], clock: Clock, tmp_path: Path
) -> TestClient:
    publisher = MemoryPublisher()
    config = gateway_config(
        channels={"api": {"secret": API_SECRET, "callback_url": crm[1]}},
        reply_tracking={"scan_interval": "0.05s"},
        csat={"enabled": True},
        cases={"file": str(write_workflow(tmp_path))},
    )
    return await aiohttp_client(build_app(config, store=store, publisher=publisher, clock=clock))


def told(crm: tuple[FakeCallback, str]) -> list[str]:
    return [json.loads(body)["text"] for _, body in crm[0].received]


def date_zh(ms_or_iso: str) -> str:
    local = datetime.fromisoformat(ms_or_iso.replace("Z", "+00:00")).astimezone(SHANGHAI)
    return f"{local.year}年{local.month}月{local.day}日"


async def test_open_progress_extend_resolve_rate_and_reopen(
    client: TestClient, crm: tuple[FakeCallback, str], clock: Clock
) -> None:
    cid = (await say(client, "wang", "我被重复扣款了，订单 42 扣了两次"))["conversation_id"]
    opened = await open_case(client, cid, summary="订单 42 重复扣款 99 元")
    number = opened["number"]
    today = datetime.now(SHANGHAI).strftime("%Y%m%d")
    assert re.fullmatch(rf"CP-{today}-\d{{4}}", number)
    assert opened["stage"] == "received" and opened["category_name"]["zh"] == "重复扣款"
    due = datetime.fromisoformat(opened["due_at"].replace("Z", "+00:00"))
    assert abs((due - datetime.now(UTC)) - timedelta(days=15)) < timedelta(minutes=1)

    await eventually(lambda: len(crm[0].received) == 1)
    text = told(crm)[0]
    assert number in text and date_zh(opened["due_at"]) in text and "重复扣款" in text and "受理" in text

    status, moved = await call(
        client, "POST", f"/api/v1/cases/{number}/progress", json={"stage": "investigating", "note": "已联系发卡行核实"}
    )
    assert status == 200 and moved["stage"] == "investigating" and moved["deadlines"]["first_update_at"]
    await eventually(lambda: len(crm[0].received) == 2)
    assert "已联系发卡行核实" in told(crm)[1] and "调查处理中" in told(crm)[1] and number in told(crm)[1]

    status, _ = await call(
        client, "POST", f"/api/v1/cases/{number}/progress", json={"note": "银行说三天内回复", "internal": True}
    )
    assert status == 200

    too_late = (datetime.now(SHANGHAI) + timedelta(days=40)).date().isoformat()
    status, body = await call(
        client, "POST", f"/api/v1/cases/{number}/extend", json={"until": too_late, "reason": "等待银行"}
    )
    assert status == 422 and body["error"]["code"] == "past_max_resolve_within"
    status, body = await call(client, "POST", f"/api/v1/cases/{number}/extend", json={"until": too_late})
    assert status == 422 and body["error"]["code"] == "invalid"
    until = (datetime.now(SHANGHAI) + timedelta(days=25)).date()
    status, extended = await call(
        client,
        "POST",
        f"/api/v1/cases/{number}/extend",
        json={"until": until.isoformat(), "reason": "发卡行需要调取交易凭证"},
    )
    assert status == 200 and extended["extensions"] == 1
    assert extended["deadlines"]["eta"] == extended["due_at"] != opened["due_at"]
    await eventually(lambda: len(crm[0].received) == 3)
    assert "发卡行需要调取交易凭证" in told(crm)[2] and f"{until.year}年{until.month}月{until.day}日" in told(crm)[2]

    status, resolved = await call(
        client, "POST", f"/api/v1/cases/{number}/resolve", json={"resolution": "已退回重复扣款 99 元"}
    )
    assert status == 200 and resolved["stage"] == "resolved" and resolved["on_time"] is True
    await eventually(lambda: len(crm[0].received) == 5)
    assert "已退回重复扣款 99 元" in told(crm)[3]
    assert told(crm)[4].startswith("请为本次服务评分")  # the rating request, after the resolution
    conv = await call(client, "GET", f"/api/v1/conversations/{cid}")
    assert conv[1]["status"] == "resolved"

    await say(client, "wang", "5 处理很快")
    await eventually(lambda: len(crm[0].received) == 6)
    await settle(client)
    case = await case_of(client, number)
    assert case["stage"] == "resolved"  # a rating is not a reopening

    clock.advance(2 * DAY)
    await say(client, "wang", "钱还是没到账")
    case = await eventually(lambda: _stage_is(client, number, "investigating"))
    assert case["reopened"] == 1 and case["resolved_at"] is None
    assert kinds(case) == [
        "opened",
        "customer_notified",
        "progress",
        "customer_notified",
        "note",
        "extended",
        "customer_notified",
        "resolved",
        "customer_notified",
        "reopened",
    ]
    notes = {e["kind"]: e for e in case["timeline"]}
    assert notes["note"]["internal"] is True and "customer_text" not in notes["note"]
    assert notes["progress"]["by"] == "alice" and notes["progress"]["internal"] is False
    assert all(e["at"].endswith("Z") for e in case["timeline"])


async def _stage_is(client: TestClient, number: str, stage: str) -> dict[str, Any] | None:
    case = await case_of(client, number)
    return case if case["stage"] == stage else None


async def test_an_internal_note_never_reaches_the_customer(client: TestClient, crm: tuple[FakeCallback, str]) -> None:
    cid = (await say(client, "li", "申请退款一直没到"))["conversation_id"]
    number = (await open_case(client, cid))["number"]
    await eventually(lambda: len(crm[0].received) == 1)
    for body in (
        {"note": "内部：商户已承认", "internal": True},
        {"note": "内部二", "internal": True, "stage": "waiting_third_party"},
    ):
        status, _ = await call(client, "POST", f"/api/v1/cases/{number}/progress", json=body)
        assert status == 200
    await settle(client)
    assert len(crm[0].received) == 1 and not any("内部" in t for t in told(crm))
    case = await case_of(client, number)
    assert case["stage"] == "waiting_third_party" and case["deadlines"]["first_update_at"] is None


async def test_refusals_name_what_is_wrong(client: TestClient) -> None:
    cid = (await say(client, "zhao", "投诉"))["conversation_id"]
    status, body = await call(
        client, "POST", "/api/v1/cases", json={"conversation_id": cid, "category": "nope", "summary": "x"}
    )
    assert (status, body["error"]["code"]) == (422, "unknown_category")
    status, body = await call(
        client,
        "POST",
        "/api/v1/cases",
        json={"conversation_id": "cv_none", "category": "double_charge", "summary": "x"},
    )
    assert (status, body["error"]["code"]) == (404, "not_found")
    status, body = await call(
        client, "POST", "/api/v1/cases", json={"conversation_id": cid, "category": "double_charge"}
    )
    assert (status, body["error"]["code"]) == (422, "invalid")
    number = (await open_case(client, cid))["number"]
    status, body = await call(
        client, "POST", "/api/v1/cases", json={"conversation_id": cid, "category": "double_charge", "summary": "again"}
    )
    assert (status, body["error"]["code"]) == (409, "case_exists") and number in body["error"]["message"]
    status, body = await call(
        client, "POST", f"/api/v1/cases/{number}/progress", json={"note": "x", "stage": "resolved"}
    )
    assert (status, body["error"]["code"]) == (422, "stage")
    status, body = await call(client, "POST", f"/api/v1/cases/{number}/progress", json={"note": "x", "stage": "closed"})
    assert (status, body["error"]["code"]) == (422, "stage")
    status, body = await call(client, "POST", "/api/v1/cases/CP-20200101-0001/progress", json={"note": "x"})
    assert (status, body["error"]["code"]) == (404, "not_found")
    earlier = (datetime.now(SHANGHAI) + timedelta(days=3)).date().isoformat()
    status, body = await call(client, "POST", f"/api/v1/cases/{number}/extend", json={"until": earlier, "reason": "r"})
    assert (status, body["error"]["code"]) == (422, "not_later")
    status, body = await call(
        client, "POST", f"/api/v1/cases/{number}/parties", json={"kind": "merchant", "name": "店", "email": "not-mail"}
    )
    assert status == 422
    status, body = await call(client, "POST", f"/api/v1/cases/{number}/resolve", json={"resolution": "done"})
    assert status == 200
    status, body = await call(client, "POST", f"/api/v1/cases/{number}/resolve", json={"resolution": "again"})
    assert (status, body["error"]["code"]) == (409, "stage")
    status, body = await call(client, "POST", f"/api/v1/cases/{number}/progress", json={"note": "told"})
    assert (status, body["error"]["code"]) == (409, "stage")
    status, _ = await call(client, "POST", f"/api/v1/cases/{number}/progress", json={"note": "内部", "internal": True})
    assert status == 200
    status, body = await call(client, "GET", "/api/v1/cases/stats", BOB_TOKEN)
    assert status == 403
    status, body = await call(client, "GET", "/api/v1/cases", "wrong-token-1234")
    assert status == 401


async def test_the_list_puts_overdue_cases_first_and_filters(client: TestClient, clock: Clock) -> None:
    first = (await say(client, "a1", "扣款"))["conversation_id"]
    second = (await say(client, "a2", "建议"))["conversation_id"]
    third = (await say(client, "a3", "扣款"))["conversation_id"]
    late = (await open_case(client, first))["number"]  # due in 15 days
    clock.advance(DAY)
    soon = (await open_case(client, second, category="suggestion"))["number"]  # due in 10 days: earlier
    done = (await open_case(client, third))["number"]
    await call(client, "POST", f"/api/v1/cases/{done}/resolve", json={"resolution": "ok"})
    status, body = await call(client, "GET", "/api/v1/cases")
    assert status == 200 and [c["number"] for c in body["cases"]] == [soon, late, done]
    status, body = await call(client, "GET", "/api/v1/cases?category=double_charge")
    assert [c["number"] for c in body["cases"]] == [late, done]
    status, body = await call(client, "GET", "/api/v1/cases?stage=resolved")
    assert [c["number"] for c in body["cases"]] == [done]
    clock.advance(12 * DAY)
    status, body = await call(client, "GET", "/api/v1/cases?overdue=true")
    assert [c["number"] for c in body["cases"]] == [soon] and body["cases"][0]["deadlines"]["overdue"] is True
    status, body = await call(client, "GET", "/api/v1/cases?stage=nope")
    assert status == 400


async def test_stats_by_category_as_json_and_csv(client: TestClient, clock: Clock) -> None:
    numbers = []
    for user in ("s1", "s2", "s3"):
        cid = (await say(client, user, "重复扣款"))["conversation_id"]
        numbers.append((await open_case(client, cid))["number"])
    cid = (await say(client, "s4", "建议"))["conversation_id"]
    await open_case(client, cid, category="suggestion")
    clock.advance(DAY)
    await call(client, "POST", f"/api/v1/cases/{numbers[0]}/resolve", json={"resolution": "退回"})
    until = (datetime.now(SHANGHAI) + timedelta(days=25)).date().isoformat()
    await call(client, "POST", f"/api/v1/cases/{numbers[1]}/extend", json={"until": until, "reason": "等银行"})
    clock.advance(20 * DAY)
    await call(client, "POST", f"/api/v1/cases/{numbers[1]}/resolve", json={"resolution": "退回"})
    today = datetime.now(SHANGHAI).date()
    status, data = await call(
        client, "GET", f"/api/v1/cases/stats?from={today.isoformat()}&to={today.isoformat()}", OPS_TOKEN
    )
    assert status == 200, data
    charge = data["by_category"]["double_charge"]
    assert (charge["received"], charge["resolved"], charge["on_time"], charge["within_original"]) == (3, 2, 2, 1)
    assert charge["by_stage"]["investigating"] == 0 and charge["by_stage"]["received"] == 1
    assert (charge["extended"], charge["extensions"], charge["overdue"]) == (1, 1, 1)
    assert charge["on_time_rate"] == 1.0 and charge["median_hours_to_resolve"] == pytest.approx((24 + 504) / 2, abs=0.1)
    assert data["by_category"]["suggestion"]["received"] == 1 and data["received"] == 4
    resp = await client.get(
        f"/api/v1/cases/stats?from={today.isoformat()}&to={today.isoformat()}&format=csv",
        headers={"Authorization": f"Bearer {OPS_TOKEN}"},
    )
    assert resp.status == 200 and resp.content_type == "text/csv"
    lines = (await resp.text()).lstrip("\ufeff").splitlines()
    assert lines[0].startswith("category,name_zh,name_en,kind,received,received,")  # the stage column "received" too
    assert lines[1].startswith("double_charge,重复扣款,double charge,complaint,3,")
    assert lines[-1].startswith("all,全部,all,,4,")
    yesterday = (today - timedelta(days=1)).isoformat()
    status, empty = await call(client, "GET", f"/api/v1/cases/stats?from={yesterday}&to={yesterday}", OPS_TOKEN)
    assert empty["received"] == 0 and empty["on_time_rate"] is None
    assert (await call(client, "GET", "/api/v1/cases/stats?from=tomorrow", OPS_TOKEN))[0] == 400


async def test_agents_see_the_cases_of_conversations_they_may_read(
    aiohttp_client: Any, store: Store, tmp_path: Path
) -> None:
    rules = tmp_path / "routing.yaml"
    rules.write_text(
        "version: 1\nskills: [complaints]\nqueues:\n  complaints: {skills: {complaints: 3}}\n  general: {}\n"
        "agents:\n  alice: {skills: {complaints: 4}}\n  bob: {skills: {}}\n"
        "defaults:\n  targets: [{queue: general}]\nrules:\n  - name: complaint\n    when: {keywords: [投诉]}\n"
        "    targets: [{queue: complaints}]\n"
    )
    config = gateway_config(
        routing={"rules": str(rules)},
        cases={"file": str(write_workflow(tmp_path, WORKFLOW.replace("queue: general", "queue: complaints")))},
    )
    client = await aiohttp_client(build_app(config, store=store))
    cid = (await say(client, "q1", "我要投诉"))["conversation_id"]
    number = (await open_case(client, cid, token=OPS_TOKEN))["number"]
    assert (await call(client, "GET", f"/api/v1/cases/{number}", ALICE_TOKEN))[0] == 200
    assert (await call(client, "GET", f"/api/v1/cases/{number}", BOB_TOKEN))[0] == 404
    assert (await call(client, "GET", "/api/v1/cases", BOB_TOKEN))[1]["cases"] == []
    assert (await call(client, "POST", f"/api/v1/cases/{number}/progress", BOB_TOKEN, json={"note": "x"}))[0] == 404
    status, _ = await call(
        client,
        "POST",
        "/api/v1/cases",
        BOB_TOKEN,
        json={"conversation_id": cid, "category": "double_charge", "summary": "x"},
    )
    assert status == 404


async def test_events_tell_other_systems_each_step(client: TestClient) -> None:
    cid = (await say(client, "ev", "重复扣款"))["conversation_id"]
    number = (await open_case(client, cid))["number"]
    await call(client, "POST", f"/api/v1/cases/{number}/progress", json={"note": "查询中"})
    await call(
        client,
        "POST",
        f"/api/v1/cases/{number}/parties",
        json={"kind": "merchant", "name": "店", "email": "m@shop.example"},
    )
    await call(client, "POST", f"/api/v1/cases/{number}/resolve", json={"resolution": "ok"})
    publisher = client.app[SERVICES].publisher

    def published(kind: str) -> list[dict[str, Any]]:
        return [json.loads(m.body) for m in publisher.events if m.routing_key == kind]

    for kind in ("case.opened", "case.progress", "case.party_added", "case.resolved"):
        await eventually(lambda kind=kind: published(kind))
        [body] = published(kind)
        assert body["number"] == number and body["conversation_id"] == cid and body["category"] == "double_charge"
        assert body["occurred_at"].endswith("Z")
    assert published("case.opened")[0]["due_at"] and published("case.progress")[0]["note"] == "查询中"
    assert published("case.party_added")[0]["party"] == {"kind": "merchant", "name": "店", "email": "m@shop.example"}
