"""`gateway rules simulate`: the decision with its explanation, as text or one JSON object."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gateway.cli import main
from gateway.routing.rules import load_rules
from tests.routing.conftest import BASE_RULES

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "config" / "routing.yaml"


def simulate(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["rules", "simulate", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def simulate_json(capsys: pytest.CaptureFixture[str], rules: Path, *args: str) -> dict[str, Any]:
    code, out, err = simulate(capsys, "--rules", str(rules), "--json", *args)
    assert code == 0, (out, err)
    return json.loads(out)


def test_json_has_the_whole_decision(write_rules: Callable[..., Path], capsys: pytest.CaptureFixture[str]) -> None:
    path = write_rules(BASE_RULES)
    data = simulate_json(
        capsys, path, "--channel", "webchat", "--text", "My payment failed", "--at", "2026-03-02T10:00"
    )
    assert data == {
        "queue": "payments-en",
        "priority": 6,
        "skills": ["payments", "english"],
        "rule": "payments-en",
        "targets": [
            {"queue": "payments-en", "priority": 6, "timeout": 90.0},
            {"queue": "payments-zh", "priority": 6, "timeout": 7200.0},
            {"queue": "general", "priority": 6, "timeout": None},
        ],
        "rules_version": load_rules(path).version,
        "explanation": data["explanation"],
        "language": "en",
        "open_case": None,
        "requires_verification": False,
        "at": "2026-03-02T10:00:00+08:00",
    }
    assert data["explanation"][-2:] == [
        "rule payments-en: matched (language: en (detected from the text); keywords: payment)",
        "→ payments-en at priority 6; unclaimed after 1m30s → payments-zh at priority 6; "
        "unclaimed after 2h1m30s → general at priority 6 (rule payments-en)",
    ]
    assert len(data["explanation"]) == 11


def test_defaults_give_a_null_rule(write_rules: Callable[..., Path], capsys: pytest.CaptureFixture[str]) -> None:
    data = simulate_json(
        capsys, write_rules(BASE_RULES), "--channel", "sms", "--text", "hello", "--at", "2026-03-02T10:00"
    )
    assert data["rule"] is None and data["queue"] == "general" and data["priority"] == 3
    assert data["explanation"][-1] == "→ no rule matched: defaults, general at priority 3"


def test_naive_at_is_in_the_rules_time_zone_and_an_offset_is_respected(
    write_rules: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_rules(BASE_RULES)
    local = simulate_json(capsys, path, "--channel", "sms", "--text", "hi", "--at", "2026-03-02T10:30")
    utc = simulate_json(capsys, path, "--channel", "sms", "--text", "hi", "--at", "2026-03-02T10:30Z")
    assert (local["rule"], local["at"]) == (None, "2026-03-02T10:30:00+08:00")
    assert (utc["rule"], utc["at"]) == ("after-hours", "2026-03-02T10:30:00+00:00")  # 18:30 in Shanghai
    assert any("Mon 2026-03-02 18:30 Asia/Shanghai" in line for line in utc["explanation"])


def test_attributes(write_rules: Callable[..., Path], capsys: pytest.CaptureFixture[str]) -> None:
    path = write_rules(BASE_RULES)
    at = ("--at", "2026-03-02T10:00")
    vip = simulate_json(capsys, path, "--channel", "sms", "--text", "我要投诉", "--attr", "contact.tier=vip", *at)
    assert vip["rule"] == "vip-complaint" and vip["priority"] == 9
    normal = simulate_json(capsys, path, "--channel", "sms", "--text", "我要投诉", "--attr", "contact.tier=normal", *at)
    assert normal["rule"] is None
    assert "rule vip-complaint: skipped — contact.tier is 'normal', wanted 'vip'" in normal["explanation"]
    new = simulate_json(capsys, path, "--channel", "sms", "--text", "我想开户", "--attr", "new_contact=true", *at)
    assert new["rule"] == "welcome"
    returning = simulate_json(capsys, path, "--channel", "sms", "--text", "我想开户", "--attr", "new_contact=no", *at)
    assert returning["rule"] is None
    tags = simulate_json(
        capsys, path, "--channel", "api", "--text", "hi", "--attr", "contact.tags=frequent",
        "--attr", "contact.tags=merchant", *at,
    )  # fmt: skip
    assert tags["rule"] == "merchants"
    menu = simulate_json(capsys, path, "--channel", "voice", "--text", "", "--attr", "attribute.menu=2", *at)
    assert menu["rule"] == "phone-menu-accounts"
    hinted = simulate_json(
        capsys, path, "--channel", "telegram", "--text", "payment 付款", "--attr", "language=zh", *at
    )
    assert hinted["rule"] == "payments-zh" and hinted["language"] == "zh"
    subject = simulate_json(capsys, path, "--channel", "email", "--text", "see attached", "--subject", "三月发票", *at)
    assert subject["rule"] == "invoice-email"


def test_human_output(write_rules: Callable[..., Path], capsys: pytest.CaptureFixture[str]) -> None:
    path = write_rules(BASE_RULES)
    code, out, _ = simulate(
        capsys, "--rules", str(path), "--channel", "sms", "--text", "付款失败", "--at", "2026-03-02T10:00"
    )
    assert code == 0
    lines = out.splitlines()
    assert lines[:5] == [
        "queue:     payments-zh",
        "priority:  6",
        "rule:      payments-zh",
        "skills:    payments, chinese",
        "language:  zh",
    ]
    assert "  1. payments-zh (priority 6) at once, for 10m" in lines
    assert "  2. general (priority 7) after 10m" in lines
    assert lines[-2:] == [
        "  rule payments-zh: matched (language: zh (detected from the text); keywords: 付款)",
        "  → payments-zh at priority 6; unclaimed after 10m → general at priority 7 (rule payments-zh)",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--channel", "fax", "--text", "x"), "channel: unknown channel 'fax'"),
        (("--channel", "sms", "--text", "x", "--attr", "tier=vip"), "unknown attribute 'tier'"),
        (("--channel", "sms", "--text", "x", "--attr", "contact.tier"), "--attr 'contact.tier': write KEY=VALUE"),
        (("--channel", "sms", "--text", "x", "--attr", "new_contact=maybe"), "new_contact: 'maybe' is not true"),
        (("--channel", "sms", "--text", "x", "--at", "next tuesday"), "at: 'next tuesday' is not an ISO-8601 time"),
    ],
)
def test_bad_input_exits_2_with_a_reason(
    write_rules: Callable[..., Path], capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    code, out, err = simulate(capsys, "--rules", str(write_rules(BASE_RULES)), *args)
    assert code == 2 and out == ""
    assert err.startswith("gateway rules simulate: ") and message in err


def test_invalid_rules_exit_1_with_their_lines(
    write_rules: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_rules(BASE_RULES.replace("{queue: disputes, priority: 8}", "{queue: dispute, priority: 8}"))
    code, out, _ = simulate(capsys, "--rules", str(path), "--channel", "sms", "--text", "x", "--json")
    assert code == 1
    assert out.splitlines() == [
        f"{path}:38: rule 'stolen-card': target 1: unknown queue 'dispute' "
        "(queues: payments-zh, payments-en, accounts, complaints, disputes, after-hours, general)"
    ]


# The shipped example rules, on the messages a payment platform's desk gets.
SHIPPED_CASES = [
    ("sms", "我的付款失败了", (), "2026-03-02T10:00", "payments-zh", "payments-zh"),
    ("webchat", "My card payment was declined", (), "2026-03-02T10:00", "payments-en", "payments-en"),
    ("wechat", "账户被冻结了，怎么解冻", (), "2026-03-02T10:00", "account-lock-zh", "accounts-zh"),
    ("email", "I forgot my password and I'm locked out", (), "2026-03-02T10:00", "account-lock-en", "accounts-en"),
    ("sms", "怎么重置密码", (), "2026-03-02T10:00", "account-lock-zh", "accounts-zh"),
    ("api", "申请退款", (), "2026-03-02T10:00", "refunds", "refunds"),
    ("email", "I want to file a chargeback", (), "2026-03-02T10:00", "disputes", "disputes"),
    ("sms", "我要拒付这笔交易", (), "2026-03-02T10:00", "disputes", "disputes"),
    ("sms", "我要投诉", ("contact.tier=vip",), "2026-03-02T10:00", "vip-complaint", "complaints"),
    ("sms", "我要投诉", (), "2026-03-02T10:00", "complaints", "complaints"),
    ("sms", "有人盗刷我的卡", (), "2026-10-01T10:00", "fraud-or-unauthorised", "disputes"),  # even on a holiday
    ("sms", "我的付款失败了", (), "2026-10-01T10:00", "after-hours", "after-hours"),  # 国庆节
    ("sms", "我的付款失败了", (), "2026-03-02T12:30", "after-hours", "after-hours"),  # lunch
    ("sms", "我的付款失败了", (), "2026-03-07T10:00", "after-hours", "after-hours"),  # Saturday
    ("sms", "我的付款失败了", (), "2026-02-14T10:00", "payments-zh", "payments-zh"),  # make-up working Saturday
    ("sms", "我的付款失败了", (), "2026-03-02T02:00Z", "payments-zh", "payments-zh"),  # 10:00 in Shanghai
    ("voice", "", ("attribute.menu=1",), "2026-03-02T10:00", "phone-menu-payments", "payments-zh"),
    ("email", "see attachment", (), "2026-03-02T10:00", None, "general"),
]


@pytest.mark.parametrize(("channel", "text", "attrs", "at", "rule", "queue"), SHIPPED_CASES)
def test_the_shipped_rules_route_a_payment_desks_messages(
    capsys: pytest.CaptureFixture[str],
    channel: str,
    text: str,
    attrs: tuple[str, ...],
    at: str,
    rule: str | None,
    queue: str,
) -> None:
    extra = [arg for attr in attrs for arg in ("--attr", attr)]
    data = simulate_json(capsys, SHIPPED, "--channel", channel, "--text", text, "--at", at, *extra)
    assert (data["rule"], data["queue"]) == (rule, queue), data["explanation"]
