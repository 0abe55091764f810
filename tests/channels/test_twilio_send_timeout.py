"""An SMS reply whose request to Twilio times out: retried once the backoff has passed, then
sent, and sent no more than that — against a fake Twilio REST API that answers late once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from multidict import MultiDictProxy

from gateway.storage.base import Store
from tests.channels.twilio_helpers import (
    CUSTOMER,
    OUR_NUMBER,
    FakeTwilio,
    conversation,
    fake_twilio,
    post_signed,
    sid,
    sms_params,
    twilio_client,
)
from tests.conftest import eventually
from tests.helpers import ALICE_TOKEN, auth
from tests.timing import ManualClock, scan_and_publish, stop_timer_scanner

SEND_TIMEOUT = 2.0  # channels.twilio.send_timeout: generous, the second request must beat it on a busy machine


@pytest.fixture
async def twilio_api(aiohttp_server: Any) -> tuple[FakeTwilio, str]:
    return await fake_twilio(aiohttp_server)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def client(
    aiohttp_client: Any, store: Store, twilio_api: tuple[FakeTwilio, str], clock: ManualClock
) -> TestClient:
    return await twilio_client(
        aiohttp_client, store, api_base_url=twilio_api[1], send_timeout=f"{SEND_TIMEOUT}s", clock=clock
    )


async def stored(client: TestClient, cid: str, message_id: str) -> dict[str, Any]:
    conv = await conversation(client, cid)
    return next(m for m in conv["messages"] if m["id"] == message_id)


async def test_a_send_that_times_out_is_retried_once_and_ends_sent(
    client: TestClient, twilio_api: tuple[FakeTwilio, str], clock: ManualClock
) -> None:
    fake, _ = twilio_api
    late: list[str] = []
    release = asyncio.Event()
    first_over = asyncio.Event()

    async def first_answer_late(fields: MultiDictProxy[str], message_sid: str) -> None:
        if not late:
            late.append(message_sid)
            try:
                await release.wait()  # held past the adapter's timeout; then 201 all the same
            finally:
                first_over.set()  # answered, or dropped with the connection the adapter gave up on

    fake.before_answer = first_answer_late
    resp = await post_signed(client, "/webhooks/twilio/sms", sms_params(sid("SM"), body="退款什么时候到账？"))
    assert resp.status == 200
    [listed] = (await (await client.get("/api/v1/conversations", headers=auth())).json())["conversations"]
    cid = listed["id"]
    resp = await client.post(
        f"/api/v1/conversations/{cid}/messages", json={"text": "您好，退款已提交"}, headers=auth(ALICE_TOKEN)
    )
    assert resp.status == 202
    message_id = (await resp.json())["id"]

    # The first attempt gave up after the timeout: still queued, the reason recorded.
    async def timed_out() -> bool:
        message = await stored(client, cid, message_id)
        return message["status"] == "queued" and message["error"] == "timeout" and message["attempts"] == 1

    await eventually(timed_out, timeout=30)
    assert len(fake.received) == 1

    clock.advance(2.0)  # past the first backoff (1 s, with jitter up to 1.25 s)

    async def sent() -> bool:
        return (await stored(client, cid, message_id))["status"] == "sent"

    await eventually(sent, timeout=30)
    assert len(fake.received) == 2
    for _, fields in fake.received:
        assert fields["To"] == CUSTOMER and fields["From"] == OUR_NUMBER and fields["Body"] == "您好，退款已提交"
    final = await stored(client, cid, message_id)
    assert final["attempts"] == 2 and final["external_id"] == fake.sids[1] != late[0]
    assert not final["error"]  # the first attempt's timeout is over once it is sent

    # The late request ends, and a full scan a day later sends nothing else.
    release.set()
    await asyncio.wait_for(first_over.wait(), 30)
    await stop_timer_scanner(client.app)
    clock.advance(86400)
    await scan_and_publish(client.app)
    assert len(fake.received) == 2
    final = await stored(client, cid, message_id)
    assert (final["status"], final["attempts"], final["external_id"]) == ("sent", 2, fake.sids[1])
    outbound = [m for m in (await conversation(client, cid))["messages"] if m["direction"] == "outbound"]
    assert [m["id"] for m in outbound] == [message_id]
