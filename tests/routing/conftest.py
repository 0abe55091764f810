"""Rules files for the routing tests: one realistic base set, and writers for variants."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.routing.engine import RulesRouter
from gateway.routing.rules import parse_rules

# Monday 2 March 2026, 10:00 in Shanghai: inside business hours unless a test says otherwise.
OPEN_AT = "2026-03-02T10:00:00+08:00"

BASE_RULES = """\
version: 1
timezone: Asia/Shanghai
business_hours:
  weekly:
    mon: &day ["09:00-12:00", "13:00-18:00"]
    tue: *day
    wed: *day
    thu: *day
    fri: *day
  holidays: ["2026-10-01", 2026-10-02]
  special_days:
    2026-10-10: ["09:00-12:00"]
skills: [payments, accounts, complaints, disputes, chinese, english]
queues:
  payments-zh: {skills: {payments: 2, chinese: 3}}
  payments-en: {skills: {payments: 2, english: 3}}
  accounts: {skills: {accounts: 2}}
  complaints: {skills: {complaints: 3}}
  disputes: {skills: {disputes: 2}}
  after-hours: {}
  general: {}
agents:
  alice: {skills: {payments: 4, chinese: 5, english: 3, complaints: 4}, capacity: 3}
  bob: {skills: {payments: 3, english: 5, accounts: 4, disputes: 3}, capacity: 2}
defaults:
  targets: [{queue: general}]
rules:
  - name: vip-complaint
    when:
      keywords: [投诉, complaint]
      contact.tier: vip
    targets:
      - {queue: complaints, priority: 9, timeout: 5m}
      - {queue: general}
  - name: stolen-card
    when:
      all_keywords: [card, stolen]
    targets: [{queue: disputes, priority: 8}]
  - name: order-lookup
    when:
      regex: 'order\\s*#?\\d{6,}'
    targets: [{queue: general, priority: 4}]
  - name: invoice-email
    when:
      channel: email
      subject_keywords: [invoice, 发票]
    targets: [{queue: accounts, priority: 2}]
  - name: after-hours
    when:
      business_hours: false
    targets: [{queue: after-hours, priority: 4}]
  - name: merchants
    when:
      contact.tags: merchant
    targets: [{queue: payments-en, priority: 7}]
  - name: phone-menu-accounts
    when:
      channel: [voice]
      attribute.menu: "2"
    targets: [{queue: accounts, priority: 5}]
  - name: welcome
    when:
      new_contact: true
      keywords: [开户, open an account]
    targets: [{queue: accounts, priority: 6}]
  - name: payments-zh
    when:
      language: zh
      keywords: [付款, 扣款, 支付]
    targets:
      - {queue: payments-zh, priority: 6, timeout: 10m}
      - {queue: general, priority: 7}
  - name: payments-en
    when:
      language: [en]
      keywords: [payment, charged]
    targets:
      - {queue: payments-en, priority: 6, timeout: 90s}
      - {queue: payments-zh, timeout: 2h}
      - {queue: general}
"""


@pytest.fixture
def router() -> RulesRouter:
    return RulesRouter(rules=parse_rules(BASE_RULES, path="rules.yaml"))


@pytest.fixture
def write_rules(tmp_path: Path) -> Callable[[str, str], Path]:
    def write(text: str, name: str = "routing.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write
