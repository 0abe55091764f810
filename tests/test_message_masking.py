"""Every customer-supplied string of a message is masked before ingest stores it; the
provider's structural ids are not customer text and stay as sent (gateway/core/masking.py)."""

from __future__ import annotations

import pytest

from gateway.core.masking import redact, redact_amendment
from gateway.identity import InvalidIdentity, make_identity
from gateway.model import Amendment, Attachment, Channel, Identity, IdentityKind, InboundMessage

VISA = "4111111111111111"
MASKED = "************1111"
PSID = "5500005555555559"  # a Messenger page-scoped id that happens to pass Luhn


def test_names_attachments_attributes_and_meta_are_masked_but_structural_ids_kept() -> None:
    message = InboundMessage(
        channel=Channel.WHATSAPP,
        external_id=f"wamid.{VISA}",
        sender=Identity(kind=IdentityKind.PHONE, value="+8613800138000"),
        sender_name=f"王 {VISA}",
        text=f"card {VISA}",
        attachments=[Attachment(url=f"https://lookaside.fbsbx.com/{VISA}", name=f"{VISA}.jpg", media_id=VISA)],
        contact_attributes={f"k{VISA}": [f"v {VISA}"]},
        conversation_attributes={"menu": VISA},
        meta={
            "order": {"catalog_id": VISA, "text": f"deliver {VISA}", "product_items": [{"product_retailer_id": VISA}]},
            "contact": {"phone_number": f"x {VISA}", "user_id": VISA},
            "email": {"message_id": f"{VISA}@mail.example", "references": [f"{VISA}@a"], "to": [f"{VISA} <a@b.cn>"]},
        },
    )
    masked = redact(message)
    assert masked.sender_name == f"王 {MASKED}" and masked.text == f"card {MASKED}"
    [attachment] = masked.attachments
    assert attachment.name == f"{MASKED}.jpg"
    assert attachment.url == f"https://lookaside.fbsbx.com/{VISA}" and attachment.media_id == VISA  # the provider's
    assert masked.contact_attributes == {f"k{MASKED}": [f"v {MASKED}"]}
    assert masked.conversation_attributes == {"menu": MASKED}
    order = masked.meta["order"]
    assert order["catalog_id"] == VISA and order["product_items"][0]["product_retailer_id"] == VISA
    assert order["text"] == f"deliver {MASKED}"
    assert masked.meta["contact"] == {"phone_number": f"x {MASKED}", "user_id": VISA}
    email = masked.meta["email"]
    assert email["message_id"] == f"{VISA}@mail.example" and email["references"] == [f"{VISA}@a"]
    assert email["to"] == [f"{MASKED} <a@b.cn>"]
    assert masked.external_id == f"wamid.{VISA}"  # a provider's message id


def test_ids_a_customer_client_chooses_are_masked_and_its_urls_too() -> None:
    message = InboundMessage(
        channel=Channel.WEBCHAT,
        external_id=f"v_1:{VISA}",
        sender=Identity(kind=IdentityKind.WEBCHAT, value="v_1"),
        text="hi",
        attachments=[Attachment(url=f"https://shop.example/{VISA}.png")],
    )
    masked = redact(message)
    assert masked.external_id == f"v_1:{MASKED}"
    assert masked.attachments[0].url == f"https://shop.example/{MASKED}.png"


def test_an_edit_is_masked_like_a_message() -> None:
    edit = Amendment(
        channel=Channel.TELEGRAM,
        external_id="e1",
        target_external_id="42:7",
        action="edited",
        sender=Identity(kind=IdentityKind.TELEGRAM, value="42"),
        sender_name=f"Li {VISA}",
        text=f"now {VISA}",
        attachments=[Attachment(name=f"{VISA}.pdf", url=f"https://api.telegram.org/file/{VISA}")],
        meta={"reply_to": VISA, "note": VISA},
    )
    masked = redact_amendment(edit)
    assert (masked.text, masked.sender_name) == (f"now {MASKED}", f"Li {MASKED}")
    assert masked.attachments is not None and masked.attachments[0].name == f"{MASKED}.pdf"
    assert masked.attachments[0].url == f"https://api.telegram.org/file/{VISA}"
    assert masked.meta == {"reply_to": VISA, "note": MASKED}


@pytest.mark.parametrize(
    ("kind", "value"),
    [("email", f"{VISA}@example.com"), ("email", f"li.{VISA}@example.com"), ("api", f"user-{VISA}"), ("webchat", VISA)],
)
def test_typed_identities_holding_a_card_number_are_refused(kind: str, value: str) -> None:
    with pytest.raises(InvalidIdentity) as refused:
        make_identity(kind, value)
    assert VISA not in str(refused.value)


@pytest.mark.parametrize("kind", ["messenger", "instagram", "telegram", "wechat", "whatsapp"])
def test_provider_assigned_ids_are_kept_even_when_they_pass_luhn(kind: str) -> None:
    assert make_identity(kind, PSID).value == PSID
