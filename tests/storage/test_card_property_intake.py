"""Property: a Luhn-valid card number written in any separator style, with anything next
to it, in the text, the sender's name or an attribute, never survives into storage
(every key and value, the outbox whose entries go to RabbitMQ as they are) or the log —
on the in-memory store and on real Redis."""

from __future__ import annotations

import asyncio
import logging

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from gateway.storage import MemoryStore, RedisStore
from tests.conftest import REDIS_URL, drop_prefix, unique_prefix
from tests.helpers import inbound, make_ingest
from tests.leaks import leaked, store_dump
from tests.test_card_masking import PREFIXES, SUFFIXES, _looks_like_a_date, card_numbers, written


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
