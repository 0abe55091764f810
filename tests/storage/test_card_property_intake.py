"""Property: a Luhn-valid card number written in any separator style, with anything next
to it, in the text, the sender's name or an attribute, never survives into storage
(every key and value, the outbox whose entries go to RabbitMQ as they are) or the log —
on the in-memory store and on real Redis."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from gateway.app import build_app
from gateway.storage import MemoryStore, RedisStore
from gateway.storage.base import Store
from tests.conftest import REDIS_URL, drop_prefix, unique_prefix
from tests.helpers import API_SECRET, auth, gateway_config, inbound, make_ingest, signed_api_body
from tests.leaks import leaked, store_dump
from tests.test_card_masking import PREFIXES, SUFFIXES, _looks_like_a_date, card_numbers, written

CARD = "4111111111111111"


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage() + " " + " ".join(str(v) for v in vars(record).values()))


async def _intake(kind: str, text: str, name: str, number: str) -> list[str]:
    if kind == "memory":
        store = MemoryStore()
        prefix = None
    else:
        prefix = unique_prefix()
        store = RedisStore(REDIS_URL, prefix=prefix)
    records = Records()
    root = logging.getLogger()
    root.addHandler(records)
    old_level = root.level
    root.setLevel(logging.DEBUG)
    try:
        await store.start()
        ingest = make_ingest(store)
        await ingest.accept(
            inbound(text=text, sender_name=name, contact_attributes={"note": text}, conversation_attributes={name: "x"})
        )
        found = leaked(await store_dump(store), [number]) + leaked("\n".join(records.lines), [number])
    finally:
        root.removeHandler(records)
        root.setLevel(old_level)
        await store.close()
        if prefix:
            await drop_prefix(prefix)
    return found


@pytest.mark.parametrize("kind", ["memory", pytest.param("redis", marks=pytest.mark.redis)])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_no_card_number_survives_intake_in_any_format(kind: str, data: st.DataObject) -> None:
    number = data.draw(card_numbers())
    card, groups = data.draw(written(number))
    assume(not _looks_like_a_date(groups, card))
    text = data.draw(st.sampled_from(PREFIXES)) + card + data.draw(st.sampled_from(SUFFIXES))
    name = data.draw(st.sampled_from(["", "张三 ", "Li "])) + card
    assert asyncio.run(_intake(kind, text, name, number)) == []


@pytest.mark.parametrize(
    "text",
    [
        "card ⁴¹¹¹¹¹¹¹¹¹¹¹¹¹¹¹",
        "卡号 ④①①①①①①①①①①①①①①①",
        "4⑪⑪⑪⑪⑪⑪⑪1 cvv 123",
        "卡号₄₁₁₁ ₁₁₁₁ ₁₁₁₁ ₁₁₁₁",
    ],
)
async def test_no_search_key_holds_a_card_written_in_nfkc_digits(aiohttp_client: Any, store: Store, text: str) -> None:
    """Search terms are cut after NFKC (``⁴`` is ``4``): the card in such digits is masked
    first, so no ``gw:sx:<term>`` key (nor anything else) holds it, and a search finds nothing."""
    client = await aiohttp_client(build_app(gateway_config(channels={"api": {"secret": API_SECRET}}), store=store))
    body, headers = signed_api_body({"id": "nfkc-1", "from": {"id": "u-nfkc"}, "text": text})
    resp = await client.post("/webhooks/api", data=body, headers=headers)
    assert resp.status == 200, await resp.text()
    redis = store._redis  # type: ignore[attr-defined]
    keys = [key async for key in redis.scan_iter(match=store.k("sx:*"), count=1000)]  # type: ignore[attr-defined]
    assert keys and not leaked("\n".join(keys), [CARD])
    assert leaked(await store_dump(store), [CARD]) == []  # type: ignore[arg-type]
    found = await client.get(f"/api/v1/conversations?q={CARD}", headers=auth())
    assert found.status == 200 and (await found.json())["conversations"] == []
