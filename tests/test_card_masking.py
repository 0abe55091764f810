"""Card numbers are found however they are written and whatever stands next to them; order
numbers, phone numbers and dates are left alone (gateway/redaction.py)."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from gateway.redaction import luhn_ok, mask_card_numbers
from gateway.storage.search_terms import text_terms

# The card brands' published test numbers.
BRAND_NUMBERS = {
    "visa": "4111111111111111",
    "visa-2": "4012888888881881",
    "visa-13": "4222222222222",
    "visa-19": "4000000000000000006",
    "visa-debit": "4000056655665556",
    "mastercard": "5555555555554444",
    "mastercard-2": "5105105105105100",
    "mastercard-2series": "2223003122003222",
    "amex": "378282246310005",
    "amex-2": "371449635398431",
    "discover": "6011111111111117",
    "discover-65": "6445644564456445",
    "diners-14": "30569309025904",
    "diners-36": "36227206271667",
    "jcb": "3530111333300000",
    "jcb-2": "3566002020360505",
    "unionpay": "6200000000000005",
    "unionpay-19": "6205500000000000004",
    "unionpay-debit-19": "6222021234567890128",
    "maestro": "6759649826438453",
    "mir": "2200000000000004",
}

SEPARATORS = [
    " ", "  ", "-", " - ", ".", "\u00a0", "\u202f", "\u2009", "\u3000", "\u2013", "\u2014",
    "\uff0d", "\uff0e", "\u00b7", "\u200b", "\u2060", "\t", " .", "-\u00a0",
]  # fmt: skip

DIGIT_SCRIPTS = {
    "ascii": "0123456789",
    "fullwidth": "".join(chr(0xFF10 + i) for i in range(10)),
    "arabic-indic": "".join(chr(0x0660 + i) for i in range(10)),
    "devanagari": "".join(chr(0x0966 + i) for i in range(10)),
    # Not decimal digits to Unicode, but digits after NFKC, as search terms are cut.
    "superscript": "⁰¹²³⁴⁵⁶⁷⁸⁹",
    "subscript": "₀₁₂₃₄₅₆₇₈₉",
    "circled": "⓪①②③④⑤⑥⑦⑧⑨",
    "mathematical": "".join(chr(0x1D7CE + i) for i in range(10)),
}

PREFIXES = ["", "卡号", "卡号 ", "card: ", "my card is", "订单 12345 ", "123 ", "No.", "¥", "x", "\n", "2024-12-02 "]
SUFFIXES = ["", " 123", " 12/25", " exp 12/27 cvv 737", "谢谢", "x", "。", " 有效期 2027-05", "\n", " 4"]


def digits_of(text: str) -> str:
    """The ASCII digits of ``text``: every character whose NFKC form is digits counts."""
    normal = (unicodedata.normalize("NFKC", c) for c in text)
    return "".join(str(unicodedata.decimal(d)) for n in normal if n.isdecimal() for d in n)


def visible_digits(masked: str, start: int, end: int) -> str:
    return digits_of(masked[start:end])


@pytest.mark.parametrize("brand", sorted(BRAND_NUMBERS))
def test_every_brand_test_number_is_a_luhn_valid_card(brand: str) -> None:
    number = BRAND_NUMBERS[brand]
    assert luhn_ok(number) and 13 <= len(number) <= 19


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        # The probe's formats: CVV or expiry after, another number before, odd spaces, dots.
        ("卡号 4111111111111111 123", "卡号 ************1111 123"),
        ("卡号4111111111111111，有效期12/25", "卡号************1111，有效期12/25"),
        ("card 4111 1111 1111 1111 12/25 cvv 123", "card **** **** **** 1111 12/25 cvv 123"),
        ("订单 12345 4111111111111111", "订单 12345 ************1111"),
        ("1 4111 1111 1111 1111", "1 **** **** **** 1111"),
        ("4111\u00a01111\u00a01111\u00a01111", "****\u00a0****\u00a0****\u00a01111"),
        ("4111  1111  1111  1111", "****  ****  ****  1111"),
        ("4111.1111.1111.1111", "****.****.****.1111"),
        ("4111-1111 1111.1111", "****-**** ****.1111"),
        ("4111\u200b1111\u200b1111\u200b1111", "****\u200b****\u200b****\u200b1111"),
        ("4111 – 1111 – 1111 – 1111", "**** – **** – **** – 1111"),
        ("amex 3782-822463-10005 exp 12/27", "amex ****-******-*0005 exp 12/27"),
        ("银联 6222 0212 3456 7890 128", "银联 **** **** **** ***0 128"),
        ("全角４１１１　１１１１　１１１１　１１１１", "全角****　****　****　１１１１"),
        ("2024-12-02 paid with 5555555555554444", "2024-12-02 paid with ************4444"),
        ("two: 4111111111111111 and 5500 0000 0000 0004", "two: ************1111 and **** **** **** 0004"),
        # Digits after NFKC, as search terms read them: superscript, circled, two-digit ⑪.
        ("card ⁴¹¹¹¹¹¹¹¹¹¹¹¹¹¹¹", "card ************¹¹¹¹"),
        ("④①①① ①①①① ①①①① ①①①①", "**** **** **** ①①①①"),
        ("4⑪⑪⑪⑪⑪⑪⑪1", "*******⑪1"),
        ("卡号𝟒𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏", "卡号************𝟏𝟏𝟏𝟏"),
    ],
)
def test_card_numbers_in_every_format_are_masked(text: str, masked: str) -> None:
    assert mask_card_numbers(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "订单号 202412021234567890123",  # 21 digits: an order number, not a card
        "order 1234567890123 shipped",  # 13 digits failing Luhn
        "call +86 138 0013 8000",
        "call +8613800138000 or +1 415 555 2671",
        "WhatsApp 8613800138000",
        "国际 0086 138 0013 8000",
        "tel 021-5555-1234 ext 8888",
        "2024-12-02 2024-12-05",
        "02.12.2024 - 05.12.2024",
        "2024.12.02 14:30 2024.12.03",
        "amount 1,000,000.00 CNY",
        "expiry 12/25 cvv 123",
        "short 4111 1111",
        "glued 41111111111111111111x",
    ],
)
def test_order_numbers_phones_and_dates_are_left_alone(text: str) -> None:
    assert mask_card_numbers(text) == text


def test_a_long_message_of_digits_is_masked_in_linear_time() -> None:
    import time

    start = time.perf_counter()
    for text in ("1 " * 50_000, "12345678901234 " * 5_000, "4111111111111111 " * 5_000, "9" * 100_000):
        mask_card_numbers(text)
    assert time.perf_counter() - start < 10  # quadratic would take minutes


# --- property tests ---------------------------------------------------------------------

_PREFIXES_BY_BRAND = ["4", "51", "52", "53", "54", "55", "2221", "2720", "34", "37", "6011", "65", "62", "35", "36"]


@st.composite
def card_numbers(draw: st.DrawFn) -> str:
    """A Luhn-valid number with a real brand prefix, or one of the brands' test numbers."""
    if draw(st.booleans()):
        return draw(st.sampled_from(sorted(BRAND_NUMBERS.values())))
    prefix = draw(st.sampled_from(_PREFIXES_BY_BRAND))
    length = draw(st.integers(13, 19))
    body = prefix + draw(st.text("0123456789", min_size=length - len(prefix) - 1, max_size=length - len(prefix) - 1))
    check = next(d for d in "0123456789" if luhn_ok(body + d))
    return body + check


@st.composite
def written(draw: st.DrawFn, number: str) -> tuple[str, list[str]]:
    """``number`` in some script, cut into groups joined by separators of any kind."""
    script = DIGIT_SCRIPTS[draw(st.sampled_from(sorted(DIGIT_SCRIPTS)))]
    digits = [script[int(d)] for d in number]
    cuts = sorted(draw(st.sets(st.integers(1, len(number) - 1), max_size=len(number) - 1)))
    uniform = draw(st.booleans())
    style = draw(st.sampled_from(SEPARATORS))
    groups, separators, last = [], [], 0
    for cut in [*cuts, len(number)]:
        groups.append("".join(digits[last:cut]))
        last = cut
    for _ in groups[1:]:
        separators.append(style if uniform else draw(st.sampled_from(SEPARATORS)))
    text = groups[0] + "".join(s + g for s, g in zip(separators, groups[1:], strict=True))
    return text, groups


def _looks_like_a_date(groups: list[str], text: str) -> bool:
    """A cut that makes three groups read as a calendar date (e.g. ``…1999.12.01…``): the
    masking takes those for a date, by design (docs/security.md)."""
    values = [digits_of(g) for g in groups]
    return any(
        (len(a) == 4 and a[:2] in ("19", "20") and len(b) <= 2 and len(c) <= 2)
        or (len(a) <= 2 and len(b) <= 2 and len(c) == 4 and c[:2] in ("19", "20"))
        for a, b, c in zip(values, values[1:], values[2:], strict=False)
    )


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_no_card_number_in_any_separator_style_survives(data: st.DataObject) -> None:
    number = data.draw(card_numbers())
    card, groups = data.draw(written(number))
    assume(not _looks_like_a_date(groups, card))
    prefix = data.draw(st.sampled_from(PREFIXES))
    suffix = data.draw(st.sampled_from(SUFFIXES))
    text = prefix + card + suffix
    masked = mask_card_numbers(text)
    assert masked is not None and len(masked) == len(text)
    shown = visible_digits(masked, len(prefix), len(prefix) + len(card))
    assert len(shown) <= 4, (text, masked)
    assert shown == "" or number.endswith(shown)


@st.composite
def not_cards(draw: st.DrawFn) -> str:
    """Digit runs that are not card numbers: too short, too long, Luhn-invalid, phones, dates."""
    kind = draw(st.sampled_from(["short", "long", "invalid", "phone", "date", "cn-mobile"]))
    if kind == "short":
        return draw(st.text("0123456789", min_size=1, max_size=12))
    if kind == "long":
        return draw(st.text("0123456789", min_size=20, max_size=40))
    if kind == "invalid":
        run = draw(st.text("0123456789", min_size=13, max_size=19))
        assume(not luhn_ok(run))
        return run
    if kind == "phone":
        return "+" + draw(st.text("0123456789", min_size=8, max_size=15))
    if kind == "cn-mobile":
        return (
            "86"
            + draw(st.sampled_from("3456789")).join(["1", ""])
            + draw(st.text("0123456789", min_size=9, max_size=9))
        )
    year = draw(st.integers(1900, 2099))
    month, day = draw(st.integers(1, 12)), draw(st.integers(1, 28))
    sep = draw(st.sampled_from("-./"))
    return f"{year}{sep}{month:02}{sep}{day:02}"


@settings(max_examples=400, deadline=None)
@given(runs=st.lists(not_cards(), min_size=1, max_size=3), words=st.sampled_from([" 和 ", ", ", " and ", "；"]))
def test_no_digit_run_that_is_not_a_card_is_masked(runs: list[str], words: str) -> None:
    text = "编号 " + words.join(runs) + " 谢谢"
    assert mask_card_numbers(text) == text


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_no_card_survives_into_the_search_terms(data: st.DataObject) -> None:
    """Masking and indexing agree on what a digit is: after masking, no search term of the
    text (``gw:sx:<term>`` keys) holds the card number."""
    number = data.draw(card_numbers())
    card, groups = data.draw(written(number))
    assume(not _looks_like_a_date(groups, card))
    text = data.draw(st.sampled_from(PREFIXES)) + card + data.draw(st.sampled_from(SUFFIXES))
    terms = text_terms(mask_card_numbers(text) or "")
    assert not any(number in term for term in terms), (text, terms)


@given(st.text())
def test_masking_any_text_keeps_its_length(text: str) -> None:
    masked = mask_card_numbers(text)
    assert masked is not None and len(masked) == len(text)
