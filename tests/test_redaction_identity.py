"""Card masking and identity normalisation."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.identity import InvalidIdentity, make_identity
from gateway.redaction import luhn_ok, mask_card_numbers


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("card 4111 1111 1111 1111 ok", "card **** **** **** 1111 ok"),
        ("我的卡号是4111-1111-1111-1111谢谢", "我的卡号是****-****-****-1111谢谢"),
        ("5500000000000004", "************0004"),
        ("amex 3782 822463 10005", "amex **** ****** *0005"),
        ("unionpay 6222021234567890128", "unionpay ***************0128"),
        ("全角４１１１１１１１１１１１１１１１", "全角************１１１１"),
        ("two: 4111111111111111 and 5500 0000 0000 0004", "two: ************1111 and **** **** **** 0004"),
    ],
)
def test_card_numbers_are_masked_to_the_last_four(text: str, masked: str) -> None:
    assert mask_card_numbers(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "order 1234567890123",  # fails Luhn
        "call +8613800138000",  # a phone number
        "short 4111 1111",
        "twenty digits 41111111111111111111x",
        "amount 1,000,000.00",
        "",
    ],
)
def test_other_numbers_are_left_alone(text: str) -> None:
    assert mask_card_numbers(text) == text


@given(st.text())
def test_masking_never_changes_length_or_crashes(text: str) -> None:
    masked = mask_card_numbers(text)
    assert masked is not None and len(masked) == len(text)


@given(st.from_regex(r"[0-9]{13,19}", fullmatch=True))
def test_every_luhn_valid_number_is_masked(number: str) -> None:
    masked = mask_card_numbers(f"x {number} y")
    # Phone numbers are the documented exceptions: the 00 dialling prefix, +86 mobiles.
    phone = number.startswith("00") or re.fullmatch(r"861[3-9]\d{9}", number)
    if luhn_ok(number) and not phone:
        assert masked == f"x {'*' * (len(number) - 4)}{number[-4:]} y"
    else:
        assert masked == f"x {number} y"


def test_phone_numbers_become_e164() -> None:
    assert make_identity("phone", "+86 138-0013-8000").value == "+8613800138000"
    assert make_identity("phone", "whatsapp:+14155552671").value == "+14155552671"
    assert make_identity("phone", "8613800138000").value == "+8613800138000"  # WhatsApp wa_id
    assert make_identity("phone", "138 0013 8000", default_region="CN").value == "+8613800138000"
    with pytest.raises(InvalidIdentity):
        make_identity("phone", "call me maybe")


def test_emails_are_lower_cased_and_checked() -> None:
    assert make_identity("email", " <Li.Na@Example.COM> ").value == "li.na@example.com"
    with pytest.raises(InvalidIdentity):
        make_identity("email", "li.na at example")


def test_opaque_ids_are_kept_but_not_blank() -> None:
    assert make_identity("telegram", "123456789").value == "123456789"
    with pytest.raises(InvalidIdentity):
        make_identity("messenger", "  ")
