"""The knowledge base: ``knowledge.file`` articles and the FAQ's entries, searched by agents
for canned replies (``GET /api/v1/knowledge?q=&language=``)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from gateway.config import ConfigError, load_config
from gateway.selfservice.knowledge import KnowledgeBase
from tests.cases.support import call
from tests.helpers import OPS_TOKEN

ROOT = Path(__file__).resolve().parents[2]

ARTICLES = """\
articles:
  - id: refund-zh
    title: 退款到账时间
    language: zh
    tags: [退款]
    body: 退款会原路退回，银行卡 1–3 个工作日到账。
  - id: refund-en
    title: When a refund arrives
    language: en
    tags: [refund]
    body: Refunds go back to the card you paid with within 1-3 business days.
  - id: card-fee
    title: Card fees
    tags: [fee]
    body: Paying by card costs nothing; a refund fee is never charged.
"""

FAQ = """\
version: 1
entries:
  - id: reset-password
    keywords: [重置密码, reset password]
    answer: |
      重置密码：打开 App →「我的」→「设置」。
      To reset your password: open the app → Me → Settings.
"""


def _files(tmp_path: Path) -> tuple[Path, Path]:
    knowledge, faq = tmp_path / "knowledge.yaml", tmp_path / "faq.yaml"
    knowledge.write_text(ARTICLES, encoding="utf-8")
    faq.write_text(FAQ, encoding="utf-8")
    return knowledge, faq


async def _search(client: Any, query: str) -> list[dict[str, Any]]:
    status, body = await call(client, "GET", f"/api/v1/knowledge?{query}")
    assert status == 200, body
    return list(body["articles"])


async def test_articles_and_faq_entries_are_found_by_words_and_language(make_client: Any, tmp_path: Path) -> None:
    knowledge, faq = _files(tmp_path)
    client = await make_client(knowledge={"file": str(knowledge)}, faq={"file": str(faq)})
    assert [a["id"] for a in await _search(client, "q=refund")] == ["refund-en", "card-fee"]  # title/tag first
    assert [a["id"] for a in await _search(client, "q=refund&language=en")] == ["refund-en", "card-fee"]
    assert [a["id"] for a in await _search(client, "q=退款&language=zh")] == ["refund-zh"]
    assert [a["id"] for a in await _search(client, "q=refund&language=zh")] == ["card-fee"]  # no language: any
    both = await _search(client, "")
    assert [a["id"] for a in both] == ["refund-zh", "refund-en", "card-fee", "reset-password"]
    # An FAQ entry is an article: its answer in the language asked for.
    [faq_zh] = await _search(client, "q=重置密码&language=zh")
    assert faq_zh["source"] == "faq" and faq_zh["body"] == "重置密码：打开 App →「我的」→「设置」。"
    [faq_all] = await _search(client, "q=reset password")
    assert "To reset your password" in faq_all["body"] and "重置密码" in faq_all["body"]
    assert await _search(client, "q=nothing-like-this") == []
    status, _ = await call(client, "GET", "/api/v1/knowledge?q=refund", OPS_TOKEN)
    assert status == 200
    for bad in ("language=chinese", "q=" + "x" * 201):
        status, body = await call(client, "GET", f"/api/v1/knowledge?{bad}")
        assert status == 400 and body["error"]["code"] == "bad_request"


async def test_without_a_file_or_faq_there_is_nothing(client: Any) -> None:
    assert await _search(client, "q=refund") == []


def test_an_edit_is_read_again_and_a_bad_one_keeps_the_articles(tmp_path: Path) -> None:
    knowledge, _ = _files(tmp_path)
    base = KnowledgeBase(knowledge, None, interval=0)
    assert len(base.search("", None)) == 3
    knowledge.write_text(ARTICLES + "  - {id: new-one, title: New, body: Fresh words}\n", encoding="utf-8")
    os.utime(knowledge, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert [a["id"] for a in base.search("fresh", None)] == ["new-one"]
    knowledge.write_text("articles:\n  - {id: broken}\n", encoding="utf-8")
    os.utime(knowledge, ns=(time.time_ns(), time.time_ns() + 2 * 10**9))
    assert [a["id"] for a in base.search("fresh", None)] == ["new-one"]
    assert base.error is not None and "title" in base.error


def test_a_bad_file_stops_start_up_and_the_shipped_one_loads(tmp_path: Path) -> None:
    bad = tmp_path / "knowledge.yaml"
    bad.write_text("articles:\n  - {id: a, title: A, body: x}\n  - {id: a, title: B, body: y}\n", encoding="utf-8")
    config = tmp_path / "gateway.yaml"
    config.write_text(f"routing: {{rules: null}}\nknowledge: {{file: {bad}}}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"knowledge\.file: .*appears twice"):
        load_config(config, env={})
    shipped = KnowledgeBase(ROOT / "config" / "knowledge.yaml", None)
    assert [a["id"] for a in shipped.search("退款", "zh")] == ["refund-timeline-zh"]
