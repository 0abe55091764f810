"""Finding conversations (``Store.find_conversations``, the agent's inbox and search),
run over MemoryStore and RedisStore alike."""

from __future__ import annotations

import pytest

from gateway.core.reindex import reindex
from gateway.model import Channel
from gateway.storage.base import ConversationQuery, Store
from gateway.storage.search_terms import identity_terms, query_terms, text_terms
from tests.helpers import inbound, make_ingest

NOW = 1_800_000_000.0


async def _find(store: Store, **kwargs) -> list[str]:  # type: ignore[no-untyped-def]
    page = await store.find_conversations(ConversationQuery(now_ms=int(NOW * 1000), **kwargs))
    return [c.id for c in page.conversations]


async def _seed(store: Store) -> dict[str, str]:
    clock = [NOW]
    ingest = make_ingest(store, clock=lambda: clock[0])
    ids = {}
    samples = [
        ("refund", ("api", "cust-refund"), "I want a refund for order 8812", "Alice Wong", Channel.API),
        ("card", ("email", "bob.lee@example.com"), "我的信用卡付款失败了", "李波", Channel.EMAIL),
        ("phone", ("phone", "+8613800138000"), "where is my parcel", None, Channel.SMS),
        ("other", ("api", "cust-other"), "hello there", "Carol", Channel.API),
    ]
    for name, sender, text, sender_name, channel in samples:
        r = await ingest.accept(inbound(channel=channel, sender=sender, text=text, sender_name=sender_name))
        ids[name] = r.conversation_id
        clock[0] += 1
    return ids


async def test_words_of_messages_names_and_identities_find_the_conversation(store: Store) -> None:
    ids = await _seed(store)
    assert await _find(store, q="refund") == [ids["refund"]]
    assert await _find(store, q="REFUND order") == [ids["refund"]]
    assert await _find(store, q="refund parcel") == []  # every word must occur
    assert await _find(store, q="付款失败") == [ids["card"]]  # Chinese inside a sentence
    assert await _find(store, q="alice") == [ids["refund"]]  # the contact's name
    assert await _find(store, q="李波") == [ids["card"]]
    assert await _find(store, q="bob.lee@example.com") == [ids["card"]]  # an identity
    assert await _find(store, q="13800138000") == [ids["phone"]]  # a phone without its country code
    assert await _find(store, q="+86 138 0013 8000") == []  # the words of a spaced number are not its digits
    assert await _find(store, q="nothing-like-this") == []
    assert await _find(store, q="!!!") == []


async def test_each_conversation_keeps_the_start_of_the_customers_latest_message(store: Store) -> None:
    ids = await _seed(store)
    conv = await store.get_conversation(ids["card"])
    assert conv is not None and conv.preview == "我的信用卡付款失败了"
    ingest = make_ingest(store)
    await ingest.accept(inbound(sender=("api", "cust-other"), text="card 4111 1111 1111 1111\n" + "x" * 300))
    conv = await store.get_conversation(ids["other"])
    assert conv is not None and conv.preview is not None and len(conv.preview) == 140
    assert "4111 1111" not in conv.preview and conv.preview.startswith("card ")


async def test_agent_replies_and_case_numbers_are_found(store: Store) -> None:
    ids = await _seed(store)
    await store.index_terms(ids["other"], text_terms("Your voucher is on its way"))
    assert await _find(store, q="voucher") == [ids["other"]]
    await store.index_terms("cv_missing", ["voucher"])  # a conversation that is not there: nothing
    assert await _find(store, q="voucher") == [ids["other"]]


async def test_filters_combine_with_the_words(store: Store) -> None:
    ids = await _seed(store)
    everyone = list(reversed(ids.values()))
    assert await _find(store) == everyone
    assert await _find(store, channel="api") == [ids["other"], ids["refund"]]
    assert await _find(store, channel="api", q="refund") == [ids["refund"]]
    assert await _find(store, channel="sms", q="refund") == []
    assert await _find(store, status="open", queue="general") == everyone
    assert await _find(store, status="resolved") == []
    assert await _find(store, assignee="-") == everyone
    assert await _find(store, assignee="alice") == []
    contact = (await store.get_conversation(ids["card"])).contact_id  # type: ignore[union-attr]
    assert await _find(store, contact_id=contact) == [ids["card"]]
    await store.resolve(ids["card"], by="alice", now_ms=int(NOW * 1000) + 10, payload="{}")
    # A resolved conversation leaves its queue's waiting index, not the queue filter.
    assert await _find(store, queue="general", status="resolved") == [ids["card"]]
    assert await _find(store, queue="general", q="付款") == [ids["card"]]
    assert await _find(store, queue="general", status="open", q="付款") == []
    assert await _find(store, status="resolved", q="refund") == []


async def test_reply_deadlines_filter_overdue_and_due_soon(store: Store) -> None:
    ids = await _seed(store)
    convs = {n: await store.get_conversation(i) for n, i in ids.items()}
    reply_by = {n: int(c.reply_by.timestamp() * 1000) for n, c in convs.items() if c and c.reply_by}
    assert reply_by, "the test config arms reply deadlines"
    first = min(reply_by.values())
    late = await store.find_conversations(ConversationQuery(sla="overdue", now_ms=first))
    assert [c.id for c in late.conversations] == [ids[n] for n, t in reply_by.items() if t <= first]
    soon = await store.find_conversations(ConversationQuery(sla="due_soon", now_ms=first, due_soon_ms=10_000_000))
    assert {c.id for c in soon.conversations} == {ids[n] for n, t in reply_by.items() if t > first}
    assert not (await store.find_conversations(ConversationQuery(sla="due_soon", now_ms=0, due_soon_ms=1))).conversations


async def test_cursor_pages_through_everything_once_even_with_equal_times(store: Store) -> None:
    ingest = make_ingest(store, clock=lambda: NOW)  # every conversation created in the same millisecond
    made = {(await ingest.accept(inbound(sender=("api", f"p{i}"), text=f"parcel {i}"))).conversation_id for i in range(23)}
    seen: list[str] = []
    cursor = None
    for _ in range(20):
        page = await store.find_conversations(ConversationQuery(q="parcel", limit=5, cursor=cursor))
        seen += [c.id for c in page.conversations]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert sorted(seen) == sorted(made) and len(seen) == 23


async def test_a_cursor_it_did_not_give_is_refused(store: Store) -> None:
    for bad in ("nonsense", "12x.cv_1", ".cv_1", "123."):
        with pytest.raises(ValueError):
            await store.find_conversations(ConversationQuery(cursor=bad))


def test_terms_cut_words_pairs_and_phone_tails() -> None:
    assert text_terms("Ｒｅｆｕｎｄ, please!") == ["refund", "please"]
    assert text_terms("退款失败") == ["退款", "款失", "失败"]
    assert text_terms("退 ok") == ["退", "ok"]
    assert text_terms("CS-20261202-0001") == ["cs", "20261202", "0001"]
    assert "13800138000" in identity_terms(["phone:+8613800138000"])
    assert "0138000" in identity_terms(["phone:+8613800138000"])
    assert "138000" not in identity_terms(["phone:+8613800138000"])
    assert identity_terms(["email:a.b@x.org"]) == ["a", "b", "x", "org"]
    assert len(query_terms(" ".join(f"w{i}" for i in range(30)))) == 8


async def test_reindex_makes_conversations_stored_before_search_findable(store: Store) -> None:
    ids = await _seed(store)
    # As an older version left them: nothing in the term index.
    client = store._redis  # type: ignore[attr-defined]
    keys = [k async for k in client.scan_iter(match=f"{store.prefix}:sx:*")]  # type: ignore[attr-defined]
    await client.delete(*keys)
    assert await _find(store, q="refund") == []
    assert await reindex(store, page=2) == 4  # pages of two: the cursor walks them all
    assert await _find(store, q="refund") == [ids["refund"]]
    assert await _find(store, q="李波") == [ids["card"]]
    assert await _find(store, q="13800138000") == [ids["phone"]]
    assert await reindex(store) == 4  # again: nothing changes
    assert await _find(store, q="alice") == [ids["refund"]]
