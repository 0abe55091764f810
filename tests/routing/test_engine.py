"""The decision engine: first match wins, every condition key, explanations, in Chinese and English."""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

import pytest

from gateway.model import Channel, RouteTarget, RoutingContext, RoutingDecision
from gateway.routing.engine import RUN_LIMIT, RulesRouter
from gateway.routing.rules import parse_rules
from tests.routing.conftest import BASE_RULES, OPEN_AT


def ctx(channel: str = "sms", text: str = "", **extra: Any) -> RoutingContext:
    extra.setdefault("at", datetime.fromisoformat(OPEN_AT))
    return RoutingContext(channel=Channel(channel), text=text, **extra)


CASES = [
    # id, channel, text, extra, rule, queue, priority
    ("zh-payment", "sms", "我的付款失败了，请帮忙", {}, "payments-zh", "payments-zh", 6),
    ("zh-payment-debit", "wechat", "昨天被扣款两次", {}, "payments-zh", "payments-zh", 6),
    ("en-payment", "webchat", "My payment failed twice", {}, "payments-en", "payments-en", 6),
    ("en-payment-uppercase", "whatsapp", "I WAS CHARGED TWICE", {}, "payments-en", "payments-en", 6),
    ("en-keyword-inside-word", "api", "repayments are broken", {}, "payments-en", "payments-en", 6),
    ("en-text-zh-keyword-wrong-language", "sms", "please check my 支付 history page today", {}, None, "general", 3),
    ("zh-text-en-keyword-wrong-language", "sms", "我的payment没有到账，请尽快处理", {}, None, "general", 3),
    (
        "vip-complaint-zh",
        "sms",
        "我要投诉你们的服务",
        {"contact_attributes": {"tier": "vip"}},
        "vip-complaint",
        "complaints",
        9,
    ),
    (
        "vip-complaint-en-case-insensitive",
        "email",
        "This is a formal COMPLAINT",
        {"contact_attributes": {"tier": "VIP"}},
        "vip-complaint",
        "complaints",
        9,
    ),
    ("complaint-not-vip", "sms", "我要投诉", {"contact_attributes": {"tier": "normal"}}, None, "general", 3),
    ("all-keywords", "api", "my card was stolen yesterday", {}, "stolen-card", "disputes", 8),
    ("all-keywords-partial", "api", "my card does not work", {}, None, "general", 3),
    ("regex-order", "webchat", "where is order #1234567?", {}, "order-lookup", "general", 4),
    ("regex-short-number", "webchat", "where is order #123?", {}, None, "general", 3),
    ("subject-invoice", "email", "see attached", {"subject": "Invoice for March"}, "invoice-email", "accounts", 2),
    ("subject-invoice-zh", "email", "请查收", {"subject": "三月发票"}, "invoice-email", "accounts", 2),
    ("subject-invoice-wrong-channel", "sms", "see attached", {"subject": "invoice"}, None, "general", 3),
    ("subject-in-body-only", "email", "my invoice is wrong", {"subject": "hello"}, None, "general", 3),
    (
        "tags-list",
        "api",
        "hello there",
        {"contact_attributes": {"tags": ["frequent", "Merchant"]}},
        "merchants",
        "payments-en",
        7,
    ),
    ("phone-menu", "voice", "", {"attributes": {"menu": 2}}, "phone-menu-accounts", "accounts", 5),
    ("phone-menu-other-choice", "voice", "", {"attributes": {"menu": "3"}}, None, "general", 3),
    ("new-contact-zh", "sms", "我想开户", {"new_contact": True}, "welcome", "accounts", 6),
    ("returning-contact", "sms", "我想开户", {"new_contact": False}, None, "general", 3),
    ("hint-wins-over-text", "telegram", "payment 付款", {"language_hint": "zh-Hans"}, "payments-zh", "payments-zh", 6),
    (
        "contact-language-wins",
        "telegram",
        "my 付款",
        {"contact_attributes": {"language": "zh-CN"}, "language_hint": "en"},
        "payments-zh",
        "payments-zh",
        6,
    ),
    ("fullwidth-latin", "sms", "ＰＡＹＭＥＮＴ failed", {}, "payments-en", "payments-en", 6),
    ("nothing", "sms", "hello", {}, None, "general", 3),
]


@pytest.mark.parametrize(
    ("channel", "text", "extra", "rule", "queue", "priority"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_decisions(
    router: RulesRouter, channel: str, text: str, extra: dict[str, Any], rule: str | None, queue: str, priority: int
) -> None:
    decision = router.decide(ctx(channel, text, **extra))
    assert (decision.rule, decision.queue, decision.priority) == (rule, queue, priority)
    assert decision.rules_version == router.version
    assert decision.targets[0].queue == queue


def test_first_matching_rule_wins_over_later_ones(router: RulesRouter) -> None:
    # vip-complaint and payments-zh both hold; the earlier rule decides.
    decision = router.decide(ctx(text="投诉：付款失败", contact_attributes={"tier": "vip"}))
    assert decision.rule == "vip-complaint"


def test_decision_carries_targets_timeouts_skills_and_language(router: RulesRouter) -> None:
    decision = router.decide(ctx("webchat", "payment failed"))
    assert [t.model_dump() for t in decision.targets] == [
        {"queue": "payments-en", "priority": 6, "timeout": 90.0},
        {"queue": "payments-zh", "priority": 6, "timeout": 7200.0},  # priority carries over
        {"queue": "general", "priority": 6, "timeout": None},
    ]
    assert decision.skills == ["payments", "english"]
    assert decision.language == "en"
    assert router.decide(ctx(text="扣款")).language == "zh"


def test_explanation_names_the_failed_condition_of_every_rule_before_the_match(router: RulesRouter) -> None:
    decision = router.decide(ctx("sms", "我要投诉，付款失败", contact_attributes={"tier": "normal"}))
    assert decision.explanation == [
        "rule vip-complaint: skipped — contact.tier is 'normal', wanted 'vip'",
        "rule stolen-card: skipped — all_keywords: none of 'card', 'stolen' in the text",
        "rule order-lookup: skipped — regex: 'order\\s*#?\\d{6,}' does not match the text",
        "rule invoice-email: skipped — channel is 'sms', wanted 'email'",
        "rule after-hours: skipped — inside business hours (Mon 2026-03-02 10:00 Asia/Shanghai, open 09:00-12:00, "
        "13:00-18:00), wanted outside",
        "rule merchants: skipped — contact.tags does not match 'merchant'",
        "rule phone-menu-accounts: skipped — channel is 'sms', wanted 'voice'",
        "rule welcome: skipped — keywords: none of '开户', 'open an account' in the text",
        "rule payments-zh: matched (language: zh (detected from the text); keywords: 付款)",
        "→ payments-zh at priority 6; unclaimed after 10m → general at priority 7 (rule payments-zh)",
    ]


def test_explanation_of_the_defaults(router: RulesRouter) -> None:
    decision = router.decide(ctx("webchat", "payment", contact_attributes={"language": "zh"}))
    assert decision.rule is None
    assert decision.explanation[-3:] == [
        "rule payments-zh: skipped — keywords: none of '付款', '扣款', '支付' in the text",
        "rule payments-en: skipped — language is 'zh' (contact attribute), wanted 'en'",
        "→ no rule matched: defaults, general at priority 3",
    ]
    assert len(decision.explanation) == 11  # ten rules, then the outcome


def test_all_keywords_explanation_lists_what_is_missing(router: RulesRouter) -> None:
    decision = router.decide(ctx("api", "someone used my card"))
    assert "rule stolen-card: skipped — all_keywords: 'stolen' not in the text" in decision.explanation


def test_subject_keywords_look_at_the_subject_only(router: RulesRouter) -> None:
    decision = router.decide(ctx("email", "invoice please"))
    assert "rule invoice-email: skipped — subject_keywords: none of 'invoice', '发票' in the subject" in (
        decision.explanation
    )


def test_keyword_evidence_lists_only_the_keywords_found(router: RulesRouter) -> None:
    decision = router.decide(ctx("sms", "支付和扣款都失败"))
    assert "rule payments-zh: matched (language: zh (detected from the text); keywords: 扣款, 支付)" in (
        decision.explanation
    )


def test_decision_is_a_real_model_that_round_trips(router: RulesRouter) -> None:
    decision = router.decide(ctx("webchat", "payment failed"))
    validated = RoutingDecision(**decision.model_dump())
    assert decision == validated
    assert RoutingDecision.model_validate_json(decision.model_dump_json()) == validated
    assert decision.model_fields_set == set(RoutingDecision.model_fields)
    copy = decision.model_copy(update={"queue": "other"})
    assert copy.queue == "other" and decision.queue == "payments-en"
    assert isinstance(decision.targets[0], RouteTarget)


def test_decisions_do_not_share_their_lists(router: RulesRouter) -> None:
    first = router.decide(ctx("webchat", "payment failed"))
    first.skills.append("mutated")
    first.explanation.append("mutated")
    first.targets.append(RouteTarget(queue="x"))
    second = router.decide(ctx("webchat", "payment failed"))
    assert "mutated" not in second.skills and "mutated" not in second.explanation
    assert len(second.targets) == 3


def test_same_text_scanned_once_per_decision(router: RulesRouter, monkeypatch: pytest.MonkeyPatch) -> None:
    scans: list[bytes] = []
    original = router._scan

    def counting(raw: bytes) -> Any:
        scans.append(raw)
        return original(raw)

    monkeypatch.setattr(router, "_scan", counting)
    router.decide(ctx("sms", "付款 payment charged 扣款 投诉 card stolen 开户"))
    assert len(scans) == 1


def test_one_automaton_holds_every_keyword_of_every_rule(router: RulesRouter) -> None:
    automaton_words = {word.encode("latin-1").decode("utf-8") for word in list(router._automaton.keys())}
    assert automaton_words == {
        "投诉", "complaint", "card", "stolen", "invoice", "发票", "开户", "open an account",
        "付款", "扣款", "支付", "payment", "charged",
    }  # fmt: skip


def _rules_with(count: int, *, channel_every: int = 0) -> str:
    lines = [
        "version: 1",
        "queues: {general: {}, q: {}}",
        "defaults: {targets: [{queue: general}]}",
        "rules:",
    ]
    for i in range(count):
        lines.append(f"  - name: r{i}")
        when = f"keywords: [kw{i}x]"
        if channel_every and i % channel_every == 0:
            when += ", channel: email"
        lines.append(f"    when: {{{when}}}")
        lines.append("    targets: [{queue: q}]")
    return "\n".join(lines) + "\n"


def test_long_runs_of_rules_without_a_keyword_are_summed_up() -> None:
    router = RulesRouter(rules=parse_rules(_rules_with(60, channel_every=10), path="big.yaml"))
    decision = router.decide(ctx("sms", "about kw45x please"))
    assert decision.rule == "r45"
    assert decision.explanation[0] == (
        "rules r0 … r44 (45 rules): skipped — 40 with none of their keywords in the text, 5 for other channels"
    )
    assert decision.explanation[1] == "rule r45: matched (keywords: kw45x)"
    full = router.decide(ctx("sms", "about kw45x please"), full_explanation=True)
    assert full.explanation[:2] == [
        "rule r0: skipped — channel is 'sms', wanted 'email'",
        "rule r1: skipped — keywords: 'kw1x' is not in the text",
    ]
    assert len(full.explanation) == 47
    short = router.decide(ctx("sms", "about kw3x"))
    assert len(short.explanation) == 5  # a run of 3 is listed rule by rule
    assert RUN_LIMIT >= 3


def test_index_and_plain_evaluation_agree_on_random_messages() -> None:
    """The compiled index may skip rules; it must never change which rule wins."""
    rules = parse_rules(BASE_RULES, path="rules.yaml")
    router = RulesRouter(rules=rules)
    rng = random.Random(5)
    words = ["付款", "扣款", "支付", "投诉", "complaint", "card", "stolen", "payment", "charged", "开户",
             "open an account", "order #1234567", "hello", "你好", "invoice", "发票"]  # fmt: skip
    for _ in range(400):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(0, 3)))
        context = ctx(
            rng.choice(["sms", "email", "voice", "webchat"]),
            text,
            subject=rng.choice([None, "invoice", "发票", "hi"]),
            contact_attributes=rng.choice([{}, {"tier": "vip"}, {"tags": ["merchant"]}, {"language": "en"}]),
            attributes=rng.choice([{}, {"menu": "2"}]),
            new_contact=rng.random() < 0.5,
            at=datetime.fromisoformat(rng.choice([OPEN_AT, "2026-03-02T12:30:00+08:00"])),
        )
        decision = router.decide(context)
        expected = next((r.name for r in rules.rules if _plain_match(r, context, decision.language)), None)
        assert decision.rule == expected, (context, decision.explanation)


def _plain_match(rule: Any, context: RoutingContext, language: str | None) -> bool:
    """A slow, obvious reading of the conditions, to check the engine against."""
    from gateway.routing.rules import attribute_value, fold

    text, subject = fold(context.text), fold(context.subject or "")
    for c in rule.conditions:
        if c.kind == "channel" and context.channel.value not in c.values:
            return False
        if c.kind == "keywords" and not any(k in text for k in c.values):
            return False
        if c.kind == "all_keywords" and not all(k in text for k in c.values):
            return False
        if c.kind == "subject_keywords" and not any(k in subject for k in c.values):
            return False
        if c.kind == "regex" and not any(p.search(context.text) for p in c.values):
            return False
        if c.kind == "language" and language not in c.values:
            return False
        if c.kind in ("contact", "attribute"):
            source = context.contact_attributes if c.kind == "contact" else context.attributes
            value = source.get(c.attribute)
            values = value if isinstance(value, list) else [value]
            if not any(v is not None and attribute_value(v) in c.values for v in values):
                return False
        if c.kind == "new_contact" and context.new_contact != c.values[0]:
            return False
        if c.kind == "business_hours":  # the test picks 10:00 or 12:30 (lunch) on a Monday
            local = context.at.hour * 60 + context.at.minute
            is_open = not (12 * 60 <= local < 13 * 60)
            if is_open != c.values[0]:
                return False
    return True


def test_naive_times_are_read_in_the_rules_time_zone(router: RulesRouter) -> None:
    naive_lunch = router.decide(ctx("sms", "hello", at=datetime(2026, 3, 2, 12, 30)))
    assert naive_lunch.rule == "after-hours"
    naive_open = router.decide(ctx("sms", "hello", at=datetime(2026, 3, 2, 10, 30)))
    assert naive_open.rule is None


def test_rules_without_keywords_are_found_by_their_attribute() -> None:
    lines = ["version: 1", "queues: {general: {}, q: {}}", "defaults: {targets: [{queue: general}]}", "rules:"]
    for i in range(30):
        lines += [
            f"  - name: seg{i}",
            f"    when: {{contact.segment: s{i}, new_contact: false}}",
            "    targets: [{queue: q}]",
        ]
    router = RulesRouter(rules=parse_rules("\n".join(lines) + "\n", path="seg.yaml"))
    decision = router.decide(ctx("sms", "hi", contact_attributes={"segment": ["x", "S25"]}))
    assert decision.rule == "seg25"
    assert decision.explanation[0] == "rules seg0 … seg24 (25 rules): skipped — 25 for other attribute values"
    returning = router.decide(ctx("sms", "hi", contact_attributes={"segment": "s3"}, new_contact=True))
    assert returning.rule is None
    assert "rule seg3: skipped — new contact, wanted a returning one" in returning.explanation
    full = router.decide(ctx("sms", "hi"), full_explanation=True)
    assert full.explanation[0] == "rule seg0: skipped — contact.segment does not match 's0'"
