"""Digits that are not a code's answer, both stores, real HTTP: a short message with six
digits after the verification settled (an order number) is an ordinary message, stored and
offered as written; the unauthenticated feedback form naming a customer's mailbox never
counts as an answer, so it cannot lock their pending code."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.app import build_app
from gateway.routing.publisher import MemoryPublisher
from gateway.storage.base import Store
from tests.cases.support import WORKFLOW, write_workflow
from tests.channels.test_email_support import RelaySink, start_relay
from tests.channels.twilio_helpers import FakeTwilio, fake_twilio
from tests.conftest import eventually
from tests.helpers import ALICE_TOKEN, OPS_TOKEN
from tests.verification.support import (
    CUSTOMER,
    EMAIL,
    Clock,
    call,
    code_from,
    config,
    conversation,
    say,
    settle,
    sms_bodies,
    verify,
)


@pytest.fixture
async def relay() -> AsyncIterator[RelaySink]:
    sink = await start_relay(RelaySink())
    yield sink
    sink.server.close()


@pytest.fixture
async def twilio(aiohttp_server: Any) -> tuple[FakeTwilio, str]:
    return await fake_twilio(aiohttp_server)


@pytest.fixture
async def gateway(
    aiohttp_client: Any, store: Store, relay: RelaySink, twilio: tuple[FakeTwilio, str], tmp_path: Path
) -> TestClient:
    workflow = write_workflow(
        tmp_path, WORKFLOW.replace("per_ip: 4", "per_ip: 20").replace("per_identity: 2", "per_identity: 20")
    )
    app = build_app(
        config(relay, twilio[1], sections={"cases": {"file": str(workflow)}}),
        store=store,
        publisher=MemoryPublisher(),
        clock=Clock(),
    )
    return await aiohttp_client(app)


async def sent_code(gateway: TestClient, twilio: FakeTwilio, cid: str) -> str:
    status, body = await verify(gateway, cid, via="sms")
    assert status == 202, body
    await settle(gateway)
    return code_from((await eventually(lambda: sms_bodies(twilio) or None))[-1])


async def test_an_order_number_after_verification_is_an_ordinary_message(
    gateway: TestClient, twilio: tuple[FakeTwilio, str]
) -> None:
    cid = (await say(gateway, "我要查订单", phone=CUSTOMER, email=EMAIL))["conversation_id"]
    code = await sent_code(gateway, twilio[0], cid)
    await say(gateway, code, phone=CUSTOMER)
    assert (await conversation(gateway, cid))["verification"]["state"] == "verified"
    status, body = await call(gateway, "POST", f"/api/v1/conversations/{cid}/claim", ALICE_TOKEN)
    assert status == 200, body
    status, body = await call(gateway, "POST", f"/api/v1/conversations/{cid}/resolve", ALICE_TOKEN)
    assert status == 200, body

    order = "884213" if code != "884213" else "884214"
    written = await say(gateway, f"订单号 {order}", phone=CUSTOMER)
    assert written["conversation_id"] == cid
    view = await conversation(gateway, cid)
    assert view["messages"][-1]["text"] == f"订单号 {order}"  # as written, not a placeholder
    assert view["status"] == "open" and view["awaiting_since"]  # it reopened the conversation …
    assert view["queue"] == "general" and view["routing_version"] == 2 and view["waiting_since"]  # … offered again
    assert view["verification"]["state"] == "verified"


async def test_feedback_forms_naming_the_customer_do_not_lock_their_code(
    gateway: TestClient, twilio: tuple[FakeTwilio, str]
) -> None:
    cid = (await say(gateway, "我要改手机号", phone=CUSTOMER, email=EMAIL))["conversation_id"]
    victim = (await conversation(gateway, cid))["contact_id"]
    code = await sent_code(gateway, twilio[0], cid)
    for n in range(1, 6):  # anyone can post the form with the customer's mailbox
        guess = f"{(int(code) + n) % 1_000_000:06d}"
        resp = await gateway.post(
            "/api/v1/feedback", json={"name": "x", "email": EMAIL, "category": "suggestion", "text": guess}
        )
        assert resp.status == 201, await resp.text()
    status, listing = await call(gateway, "GET", "/api/v1/conversations?limit=50", OPS_TOKEN)
    assert status == 200, listing
    [form] = [c for c in listing["conversations"] if c["channel"] == "form"]
    assert form["contact_id"] == victim  # the forms joined the customer …
    view = await conversation(gateway, cid)
    assert view["verification"]["state"] == "pending" and view["verification"]["attempts_left"] == 5  # … not counted
    form_texts = [
        m["text"] for m in (await conversation(gateway, form["id"]))["messages"] if m["direction"] == "inbound"
    ]
    assert form_texts and all(len(t) == 6 and t.isdigit() for t in form_texts)  # stored as written

    await say(gateway, code, phone=CUSTOMER)  # the customer's own answer still counts
    view = await conversation(gateway, cid)
    assert (
        view["verification"]["state"] == "verified" and view["messages"][-1]["text"] == "[verification code: correct]"
    )
