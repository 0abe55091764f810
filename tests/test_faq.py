"""The FAQ file and its matching (pure): validation with PATH:LINE, CJK-safe keywords."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import ConfigError, load_config
from gateway.selfservice.faq_book import FaqError, KeywordMatcher, load_faq, only_phrases, parse_faq
from tests.helpers import gateway_config

ROOT = Path(__file__).resolve().parent.parent

SMALL = """\
entries:
  - id: refund
    keywords: [退款, refund, money back]
    answer: 退款 1-5 个工作日到账 / Refunds take 1-5 business days.
  - id: fees
    keywords: [手续费, fee]
    answer: 转账免费 / Transfers are free.
  - id: refund-card
    keywords: [信用卡退款, credit card refund]
    answer: 信用卡退款看账单周期 / Card refunds show on the next statement.
"""


def test_chinese_keywords_match_inside_a_sentence_english_ones_on_word_boundaries() -> None:
    book = parse_faq(SMALL)
    assert book.match("请问我的退款什么时候到？").id == "refund"
    assert book.match("How long does a REFUND take?").id == "refund"
    assert book.match("refunded yet?").id == "refund"  # an English ending is fine
    assert book.match("I want my Money  Back").id == "refund"  # spaces collapse
    assert book.match("Ｒｅｆｕｎｄ please").id == "refund"  # full-width letters
    assert book.match("我要退款refund").id == "refund"  # Latin next to CJK is a boundary
    assert book.match("Any fee for this?").id == "fees"
    assert book.match("I have feedback about the app") is None  # not "fee"
    assert book.match("prefund my account") is None
    assert book.match("hello") is None and book.match("") is None


def test_the_most_specific_entry_wins() -> None:
    book = parse_faq(SMALL)
    assert book.match("信用卡退款多久到账").id == "refund-card"  # longer keyword beats 退款
    assert book.match("credit card refund and the fee").id == "refund-card"  # two keywords beat one
    assert book.match("refund and fee").id == "refund"  # a tie: the earlier entry
    nested = parse_faq(
        "entries:\n  - {id: a, keywords: [退款], answer: x}\n  - {id: b, keywords: [没到账, 还没到账], answer: y}\n"
    )
    assert nested.match("退款还没到账").id == "b"  # 还没到账 is longer; 没到账 inside it does not count twice
    assert nested.match("退款还没到账，退款!").id == "b"


def test_a_message_of_only_thanks_is_an_acknowledgement() -> None:
    acks = KeywordMatcher((k, True) for k in ["谢谢", "好的", "ok", "thanks", "thank you", "👍"])
    for text in ["谢谢", "好的，谢谢！", "OK thanks 👍", "Thank you!!", "  好的  "]:
        assert only_phrases(acks, text), text
    for text in ["谢谢，但是还没到账", "ok but where is my money", "okay", "", "？"]:
        assert not only_phrases(acks, text), text


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("entries:\n  - id: a\n   keywords: [x]\n    answer: x\n", ":3: not valid YAML"),
        ("entries: 5\n", ":1: entries: must be a list"),
        ("entrys: []\n", ":1: unknown key 'entrys'"),
        ("entries:\n  - id: a\n    keywords: []\n    answer: x\n", ":3: entries[0].keywords: needs a non-empty list"),
        (
            "entries:\n  - id: a\n    keywords: [x, '  ']\n    answer: x\n",
            ":3: entries[0].keywords[1]: must be non-empty",
        ),
        ("entries:\n  - id: a b\n    keywords: [x]\n    answer: x\n", ":2: entries[0].id"),
        ("entries:\n  - id: a\n    keywords: [x]\n", ":2: entries[0].answer: needs the answer text"),
        ("entries:\n  - id: a\n    keyword: [x]\n    answer: x\n", ":3: entries[0]: unknown key 'keyword'"),
        (
            "entries:\n  - {id: a, keywords: [x], answer: x}\n  - {id: a, keywords: [y], answer: y}\n",
            ":3: entries[1].id: 'a' is used already (line 2)",
        ),
        ("", "empty file"),
    ],
)
def test_problems_name_the_line(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "faq.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(FaqError) as caught:
        load_faq(path)
    assert any(p.startswith(str(path)) and problem in p for p in caught.value.problems), caught.value.problems


def test_every_problem_of_a_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "faq.yaml"
    path.write_text("entries:\n  - {id: a, keywords: [], answer: x}\n  - {id: '', keywords: [y], answer: ''}\n")
    with pytest.raises(FaqError) as caught:
        load_faq(path)
    lines = {p.split(":")[1] for p in caught.value.problems}
    assert lines == {"2", "3"} and len(caught.value.problems) == 3


def test_an_empty_list_is_allowed_and_answers_nothing(tmp_path: Path) -> None:
    path = tmp_path / "faq.yaml"
    path.write_text("entries: []\n")
    assert load_faq(path).match("退款") is None
    path.write_bytes(b"entries:\n  - {id: a, keywords: [\xff], answer: x}\n")
    with pytest.raises(FaqError, match="not UTF-8"):
        load_faq(path)
    with pytest.raises(FaqError, match="no such file"):
        load_faq(tmp_path / "missing.yaml")


def test_a_bad_faq_file_stops_start_up_naming_the_key_and_line(tmp_path: Path) -> None:
    path = tmp_path / "faq.yaml"
    path.write_text("entries:\n  - id: a\n    keywords: [x]\n")
    with pytest.raises(ConfigError, match=rf"faq\.file: {path}:2: entries\[0\]\.answer"):
        gateway_config(faq={"file": str(path)})
    with pytest.raises(ConfigError, match=r"faq\.file: .*no such file"):
        gateway_config(faq={"file": str(tmp_path / "nope.yaml")})
    with pytest.raises(ConfigError, match=r"faq\.handoff_keywords"):
        gateway_config(faq={"file": None, "handoff_keywords": [" "]})


@pytest.mark.parametrize(
    ("question", "entry"),
    [
        ("我忘记密码了，怎么重置？", "reset-password"),
        ("How do I reset my password?", "reset-password"),
        ("我的账户被冻结了", "account-locked"),
        ("I'm locked out of my account", "account-locked"),
        ("退款多久到账", "refund-time"),
        ("When do I get my money back?", "refund-time"),
        ("付款失败了怎么回事", "payment-failed"),
        ("My card was declined", "payment-failed"),
        ("怎么绑定银行卡", "bind-card"),
        ("How do I add a card?", "bind-card"),
        ("提现手续费多少", "fees"),
        ("What are your fees?", "fees"),
        ("我被重复扣款了", "dispute"),
        ("I was charged twice", "dispute"),
        ("你们的营业时间是？", "business-hours"),
        ("What are your business hours?", "business-hours"),
    ],
)
def test_the_shipped_faq_answers_common_payment_questions(question: str, entry: str) -> None:
    book = load_faq(ROOT / "config" / "faq.yaml")
    assert book.match(question).id == entry


def test_the_shipped_faq_leaves_fraud_to_people_and_the_embedded_config_uses_it() -> None:
    book = load_faq(ROOT / "config" / "faq.yaml")
    assert book.match("我的卡被盗刷了") is None
    for entry in book.entries:
        assert "\n" in entry.answer, f"{entry.id}: answer in Chinese and English, one line each"
    config = load_config(ROOT / "config" / "gateway.yaml", env={})
    assert config.faq.file == Path("config/faq.yaml") and config.csat is not None and config.csat.enabled
