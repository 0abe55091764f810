"""Verification records — both stores: a new code (refused within resend_after), answers
counted once and locked after max_attempts, expiry, a web chat JWT, and the events."""

from __future__ import annotations

import asyncio
import json

from gateway.storage.base import Store
from gateway.storage.verification_records import SettlePlan, VerificationPlan

NOW = 1_800_000_000_000
CONTACT = "ct_1"


def plan(nonce: str = "n1", now_ms: int = NOW, **over: object) -> VerificationPlan:
    values: dict[str, object] = dict(
        contact=CONTACT,
        conversation="cv_1",
        by="alice",
        via="sms",
        to="+86 138****8000",
        destination="phone:+8613800138000",
        nonce=nonce,
        salt="salt",
        hash="hash-of-code",
        max_attempts=3,
        now_ms=now_ms,
        expires_ms=now_ms + 600_000,
        resend_after_ms=60_000,
        keep_ms=86_400_000,
        timer=f"verification_expire|cv_1|{CONTACT}:{nonce}",
        payload=json.dumps({"type": "verification.requested", "via": "sms"}),
    )
    values.update(over)
    return VerificationPlan(**values)  # type: ignore[arg-type]


def settle(outcome: str, nonce: str = "n1", now_ms: int = NOW + 1000) -> SettlePlan:
    return SettlePlan(
        contact=CONTACT,
        nonce=nonce,
        outcome=outcome,
        conversation="cv_2",
        now_ms=now_ms,
        valid_for_ms=1_800_000,
        keep_ms=86_400_000,
        succeeded='{"type":"verification.succeeded"}',
        failed='{"type":"verification.failed"}',
    )


async def events(store: Store) -> list[tuple[str, dict[str, object]]]:
    entries = await store.outbox_read("t", count=100, block_ms=0, retry_own=False)
    return [(e.routing_key, {**json.loads(e.payload), **json.loads(e.fields)}) for e in entries]


async def test_a_code_is_kept_as_its_hash_with_an_expiry_timer_and_an_event(store: Store) -> None:
    assert await store.verification_request(plan()) == 0
    record = await store.get_verification(CONTACT)
    assert record is not None and record.state == "pending" and record.hash == "hash-of-code"
    assert record.attempts == 0 and record.max_attempts == 3 and record.to == "+86 138****8000"
    assert record.state_at(NOW + 599_999) == "pending" and record.state_at(NOW + 600_000) == "expired"
    due = await store.timers_due(NOW + 600_000, limit=10, lease_ms=1000)
    assert [t.member for t in due] == [f"verification_expire|cv_1|{CONTACT}:n1"]
    [(rk, body)] = await events(store)
    assert rk == "verification.requested" and body["contact_id"] == CONTACT and body["conversation_id"] == "cv_1"
    assert await store.get_verification("ct_other") is None
    assert set(await store.get_verifications([CONTACT, "ct_other", CONTACT])) == {CONTACT}


async def test_no_new_code_within_resend_after(store: Store) -> None:
    assert await store.verification_request(plan()) == 0
    assert await store.verification_request(plan("n2", now_ms=NOW + 20_000)) == 40_000
    assert (await store.get_verification(CONTACT)).nonce == "n1"  # type: ignore[union-attr]
    assert await store.verification_request(plan("n3", now_ms=NOW + 60_000)) == 0
    record = await store.get_verification(CONTACT)
    assert record is not None and record.nonce == "n3" and record.attempts == 0
    assert await store.verification_settle(settle("ok", "n1", NOW + 61_000)) == ("stale", 0)  # replaced


async def test_the_right_code_verifies_once(store: Store) -> None:
    await store.verification_request(plan())
    assert await store.verification_settle(settle("wrong")) == ("wrong", 2)
    assert await store.verification_settle(settle("ok")) == ("verified", 0)
    assert await store.verification_settle(settle("ok")) == ("stale", 0)
    record = await store.get_verification(CONTACT)
    assert record is not None and record.state == "verified" and record.method == "sms"
    assert record.hash == "" and record.salt == ""  # nothing left to guess against
    assert record.valid_until_ms == NOW + 1000 + 1_800_000
    assert record.state_at(NOW + 1000 + 1_800_000) == "expired"
    kinds = [rk for rk, _ in await events(store)]
    assert kinds == ["verification.requested", "verification.succeeded"]


async def test_max_attempts_lock_the_code_even_when_answers_race(store: Store) -> None:
    await store.verification_request(plan())
    results = await asyncio.gather(*(store.verification_settle(settle("wrong")) for _ in range(10)))
    assert sorted(r for r, _ in results).count("wrong") == 2
    assert [r for r, _ in results].count("locked") == 1
    assert [r for r, _ in results].count("stale") == 7
    assert await store.verification_settle(settle("ok")) == ("stale", 0)  # locked: even the right code
    record = await store.get_verification(CONTACT)
    assert record is not None and record.state == "failed" and record.reason == "max_attempts"
    failed = [body for rk, body in await events(store) if rk == "verification.failed"]
    assert len(failed) == 1 and failed[0]["reason"] == "max_attempts"


async def test_an_answer_after_the_deadline_and_the_expiry_timer_fail_it_once(store: Store) -> None:
    await store.verification_request(plan())
    assert await store.verification_settle(settle("expire", now_ms=NOW + 1000)) == ("stale", 0)  # not yet
    assert await store.verification_settle(settle("ok", now_ms=NOW + 600_000)) == ("expired", 0)
    assert await store.verification_settle(settle("expire", now_ms=NOW + 600_001)) == ("stale", 0)
    record = await store.get_verification(CONTACT)
    assert record is not None and record.state_at(NOW + 600_001) == "expired" and record.reason == "expired"
    failed = [body for rk, body in await events(store) if rk == "verification.failed"]
    assert len(failed) == 1 and failed[0]["reason"] == "expired"


async def test_a_signed_web_chat_identity_verifies_without_a_code(store: Store) -> None:
    assert await store.verification_settle(settle("jwt", "jwt:1")) == ("verified", 0)
    record = await store.get_verification(CONTACT)
    assert record is not None and record.state == "verified" and record.method == "jwt"
    [(rk, body)] = await events(store)
    assert rk == "verification.succeeded" and body["method"] == "jwt"
