"""The public feedback form's JSON side and its pages (both stores): a conversation on
channel ``form`` and a case, the number told by email (a real SMTP relay) or SMS (a fake
Twilio), one number for a repeated submission, rate limits shared through the store."""

from __future__ import annotations

import email
import email.policy
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.app import build_app
from gateway.routing.publisher import MemoryPublisher
from gateway.storage import RedisStore
from gateway.storage.base import Store
from tests.cases.support import call, case_of, write_workflow
from tests.channels.test_email_support import SUPPORT, RelaySink, start_relay
from tests.channels.twilio_helpers import PUBLIC_URL, FakeTwilio, fake_twilio, twilio_section
from tests.conftest import REDIS_URL, eventually
from tests.helpers import API_SECRET, OPS_TOKEN, gateway_config

OUR_NUMBER = "+14155550123"


@pytest.fixture
async def relay() -> AsyncIterator[RelaySink]:
    sink = await start_relay(RelaySink())
    yield sink
    sink.server.close()


@pytest.fixture
async def twilio(aiohttp_server: Any) -> tuple[FakeTwilio, str]:
    return await fake_twilio(aiohttp_server)


def config_for(tmp_path: Path, relay: RelaySink, twilio_url: str) -> Any:
    return gateway_config(
        http={"public_url": PUBLIC_URL},
        smtp={"enabled": False},
        channels={
            "api": {"secret": API_SECRET},
            "email": {
                "address": SUPPORT,
                "reply_token_secret": "form-token-secret",
                "relay": {"host": "127.0.0.1", "port": relay.port, "starttls": False, "timeout": 5},
            },
            "twilio": twilio_section(api_base_url=twilio_url, from_number=OUR_NUMBER),
        },
        reply_tracking={"scan_interval": "0.05s"},
        cases={"file": str(write_workflow(tmp_path))},
    )


@pytest.fixture
async def client(
    aiohttp_client: Any, store: Store, relay: RelaySink, twilio: tuple[FakeTwilio, str], tmp_path: Path
) -> TestClient:
    return await aiohttp_client(
        build_app(config_for(tmp_path, relay, twilio[1]), store=store, publisher=MemoryPublisher())
    )


def plain(raw: bytes) -> str:
    mail = email.message_from_bytes(raw, policy=email.policy.default)
    return mail.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]


async def post(client: TestClient, **body: Any) -> tuple[int, Any, dict[str, str]]:
    resp = await client.post("/api/v1/feedback", json=body)
    return resp.status, await resp.json(), dict(resp.headers)


async def test_feedback_with_an_email_opens_a_case_and_mails_the_number(client: TestClient, relay: RelaySink) -> None:
    status, body, _ = await post(
        client, name="陈静", email="Chen.Jing@Example.cn", category="suggestion", text="希望 App 能显示退款进度"
    )
    assert status == 201 and body["number"].startswith("CP-") and body["due_at"]
    number = body["number"]
    mail = await eventually(lambda: [r for r in relay.received if "chen.jing@example.cn" in r.rcpt_tos], timeout=30)
    text = plain(mail[0].content)
    assert number in text and "意见建议" in text
    case = await case_of(client, number, OPS_TOKEN)
    assert (case["kind"], case["channel"], case["created_by"]) == ("feedback", "form", "form")
    conv = (await call(client, "GET", f"/api/v1/conversations/{case['conversation_id']}", OPS_TOKEN))[1]
    assert conv["channel"] == "form" and conv["messages"][0]["text"] == "希望 App 能显示退款进度"
    assert conv["contact"]["identities"] == [{"kind": "email", "value": "chen.jing@example.cn"}]
    assert conv["contact"]["name"] == "陈静" and conv["attributes"]["feedback_category"] == "suggestion"
    notified = await eventually(lambda: _kinds_with(client, number, "customer_notified"), timeout=30)
    assert notified["channel"] == "form" and await eventually(lambda: _sent(client, notified))
    again = await post(
        client, name="陈静", email="chen.jing@example.cn", category="suggestion", text="希望 App 能显示退款进度"
    )
    assert again[0] == 201 and again[1]["number"] == number  # sent twice: one case


async def _kinds_with(client: TestClient, number: str, kind: str) -> dict[str, Any] | None:
    case = await case_of(client, number, OPS_TOKEN)
    return next((e for e in case["timeline"] if e["kind"] == kind), None)


async def _sent(client: TestClient, entry: dict[str, Any]) -> bool:
    conv = (await call(client, "GET", f"/api/v1/conversations/{entry['conversation_id']}", OPS_TOKEN))[1]
    return next(m["status"] for m in conv["messages"] if m["id"] == entry["message_id"]) == "sent"


async def test_feedback_with_a_phone_number_is_answered_by_sms(
    client: TestClient, twilio: tuple[FakeTwilio, str]
) -> None:
    status, body, _ = await post(
        client, name="Wang", phone="+86 138 0013 8111", category="double_charge", text="charged twice", language="en"
    )
    assert status == 201
    sms = await eventually(lambda: [f for _, f in twilio[0].received if f.get("To") == "+8613800138111"], timeout=30)
    assert body["number"] in sms[0]["Body"] and sms[0]["From"] == OUR_NUMBER and "double charge" in sms[0]["Body"]
    notified = await eventually(lambda: _kinds_with(client, body["number"], "customer_notified"), timeout=30)
    assert await eventually(lambda: _sent(client, notified))


async def test_bad_submissions_get_clear_errors(client: TestClient) -> None:
    cases = [
        ({"name": "x", "category": "suggestion", "text": "t"}, 422, "invalid"),
        ({"name": "x", "email": "not mail", "category": "suggestion", "text": "t"}, 422, "invalid"),
        ({"name": "x", "phone": "12", "category": "suggestion", "text": "t"}, 422, "invalid"),
        ({"name": "x", "email": "a@b.example", "category": "nope", "text": "t"}, 422, "unknown_category"),
        ({"name": "x", "email": "a@b.example", "category": "suggestion", "text": " "}, 422, "invalid"),
        ({"name": "x", "email": "a@b.example", "category": "suggestion", "text": "t", "extra": 1}, 422, "invalid"),
    ]
    for body, status, code in cases:
        got = await post(client, **body)
        assert (got[0], got[1]["error"]["code"]) == (status, code), body
    resp = await client.post("/api/v1/feedback", data=b"{not json", headers={"Content-Type": "application/json"})
    assert resp.status == 400


async def test_submissions_are_limited_per_address_and_per_identity(client: TestClient) -> None:
    for n in range(2):
        assert (await post(client, name="a", email="same@example.cn", category="suggestion", text=f"第 {n} 条"))[
            0
        ] == 201
    status, body, headers = await post(client, name="a", email="same@example.cn", category="suggestion", text="第 3 条")
    assert status == 429 and body["error"]["code"] == "too_many_requests" and 0 < int(headers["Retry-After"]) <= 3600
    # Another person from the same address: the per-address limit (4 tries, refused ones too) is next.
    assert (await post(client, name="b", email="other@example.cn", category="suggestion", text="t"))[0] == 201
    assert (await post(client, name="c", email="third@example.cn", category="suggestion", text="t"))[0] == 429


async def test_the_limits_hold_across_gateway_processes(
    aiohttp_client: Any, redis_prefix: str, relay: RelaySink, twilio: tuple[FakeTwilio, str], tmp_path: Path
) -> None:
    """Two gateways, each with its own connection to one Redis (as two processes have)."""
    clients = []
    for _ in range(2):
        store = RedisStore(REDIS_URL, prefix=redis_prefix)
        clients.append(await aiohttp_client(build_app(config_for(tmp_path, relay, twilio[1]), store=store)))
    statuses = []
    for n in range(3):
        statuses.append(
            (await post(clients[n % 2], name="p", email="p@example.cn", category="suggestion", text=f"{n}"))[0]
        )
    assert statuses == [201, 201, 429]


async def test_the_page_in_both_languages_and_posted_without_javascript(client: TestClient) -> None:
    zh = await client.get("/feedback", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    page = await zh.text()
    assert zh.status == 200 and '<html lang="zh">' in page and "投诉与建议" in page and "意见建议" in page
    assert "script" not in page.lower() and "script-src" not in zh.headers["Content-Security-Policy"]
    en = await client.get("/feedback?lang=en")
    assert "Complaints and feedback" in await en.text()
    form = {
        "name": "<b>Li</b>",
        "email": "li@example.cn",
        "phone": "",
        "category": "suggestion",
        "text": "<script>x</script>",
        "lang": "en",
    }
    done = await client.post("/feedback", data=form)
    text = await done.text()
    assert done.status == 200 and 'id="case-number">CP-' in text and "We will answer you by" in text
    bad = await client.post("/feedback", data={**form, "email": "", "phone": "", "text": "<i>again</i>"})
    text = await bad.text()
    assert bad.status == 422 and "&lt;i&gt;again&lt;/i&gt;" in text and "<i>again" not in text
    wrong_type = await client.post("/feedback", json=form)
    assert wrong_type.status == 415


async def test_card_numbers_in_a_submission_and_in_case_notes_are_masked_everywhere(
    client: TestClient, store: Store
) -> None:
    from tests.leaks import leaked, store_dump

    card = "6222 0212 3456 7890 128"
    status, body, _ = await post(
        client, name=f"陈静 {card}", email="chen.jing@example.cn", category="suggestion", text=f"卡号 {card} 扣款两次"
    )
    assert status == 201
    number = body["number"]
    progress = {"note": "客户卡号 4111-1111-1111-1111 已核实", "internal": True}
    assert (await call(client, "POST", f"/api/v1/cases/{number}/progress", OPS_TOKEN, json=progress))[0] == 200
    case = await case_of(client, number, OPS_TOKEN)
    assert case["summary"] == "卡号 **** **** **** ***0 128 扣款两次"
    numbers = ["6222021234567890128", "4111111111111111"]
    assert leaked(str(case), numbers) == []
    assert leaked(await store_dump(store), numbers) == []  # type: ignore[arg-type]
