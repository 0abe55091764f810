"""WeChat safe mode's codec against the known-answer vectors published with Tencent's
sample code (WXBizMsgCrypt), and its refusals: every bad ``<Encrypt>`` is a clear 400/403."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.channels.wechat.crypto import WeChatCrypto, aes_key, msg_signature
from gateway.errors import RequestRejected

SAMPLE_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"

# Tencent's Python sample: a push to decrypt, with its msg_signature.
SAMPLE_TOKEN, SAMPLE_APP_ID = "spamtest", "wx2c2769f8efd9abc2"
SAMPLE_TIMESTAMP, SAMPLE_NONCE = "1409735669", "1320562132"
SAMPLE_SIGNATURE = "5d197aaffba7e9b25a30732f161a50dee96bd5fa"
SAMPLE_ENCRYPT = (
    "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJ"
    "F9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTj"
    "g3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUu"
    "e1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE="
)

# Tencent's Java sample: a Chinese text encrypted with a fixed random prefix.
JAVA_APP_ID, JAVA_RANDOM, JAVA_TEXT = "wxb11529c136998cb6", b"aaaabbbbccccdddd", "我是中文abcd123"
JAVA_ENCRYPTED = "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg=="


def sample() -> WeChatCrypto:
    return WeChatCrypto(token=SAMPLE_TOKEN, encoding_aes_key=SAMPLE_KEY, app_id=SAMPLE_APP_ID)


def test_the_published_push_verifies_and_decrypts() -> None:
    crypto = sample()
    assert msg_signature(SAMPLE_TOKEN, SAMPLE_TIMESTAMP, SAMPLE_NONCE, SAMPLE_ENCRYPT) == SAMPLE_SIGNATURE
    assert crypto.signature_valid(
        signature=SAMPLE_SIGNATURE.upper(), timestamp=SAMPLE_TIMESTAMP, nonce=SAMPLE_NONCE, encrypted=SAMPLE_ENCRYPT
    )
    assert not crypto.signature_valid(
        signature=SAMPLE_SIGNATURE, timestamp="1409735670", nonce=SAMPLE_NONCE, encrypted=SAMPLE_ENCRYPT
    )
    assert not crypto.signature_valid(signature=None, timestamp=SAMPLE_TIMESTAMP, nonce=SAMPLE_NONCE, encrypted="x")
    xml = crypto.decrypt(SAMPLE_ENCRYPT)
    assert xml.startswith(b"<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>")
    assert b"<Content><![CDATA[abcdteT]]></Content>" in xml and b"<MsgId>6054768590064713728</MsgId>" in xml


def test_encrypting_gives_the_published_ciphertext_and_round_trips_chinese() -> None:
    crypto = WeChatCrypto(token="pamtest", encoding_aes_key=SAMPLE_KEY, app_id=JAVA_APP_ID)
    assert crypto.encrypt(JAVA_TEXT.encode("utf-8"), nonce_bytes=JAVA_RANDOM) == JAVA_ENCRYPTED
    assert crypto.decrypt(JAVA_ENCRYPTED).decode("utf-8") == JAVA_TEXT
    # A plaintext that fills whole 32-byte blocks gets a whole block of padding, and back.
    for size in (0, 1, 12, 31, 32, 33, 64, 1000):
        body = ("退款" * size).encode("utf-8")[:size]
        assert crypto.decrypt(crypto.encrypt(body)) == body
    assert crypto.encrypt(b"x") != crypto.encrypt(b"x")  # fresh random prefix each time


def _rejected(crypto: WeChatCrypto, encrypted: str) -> tuple[int, str]:
    with pytest.raises(RequestRejected) as caught:
        crypto.decrypt(encrypted)
    return caught.value.status, caught.value.code


def test_bad_ciphertexts_are_400_and_another_app_id_is_403() -> None:
    crypto = sample()
    assert _rejected(crypto, "not base64 at all!") == (400, "undecryptable")
    assert _rejected(crypto, "") == (400, "undecryptable")
    assert _rejected(crypto, base64.b64encode(b"fifteen bytes!!").decode()) == (400, "undecryptable")
    assert _rejected(crypto, SAMPLE_ENCRYPT[:-24] + "==") == (400, "undecryptable")  # truncated
    other_key = WeChatCrypto(token=SAMPLE_TOKEN, encoding_aes_key="Z" * 43, app_id=SAMPLE_APP_ID)
    assert _rejected(other_key, SAMPLE_ENCRYPT) == (400, "undecryptable")
    other_app = WeChatCrypto(token=SAMPLE_TOKEN, encoding_aes_key=SAMPLE_KEY, app_id="wx0000000000000000")
    assert _rejected(other_app, SAMPLE_ENCRYPT) == (403, "wrong_app_id")
    # A length field pointing past the end, under a valid key and padding.
    lying = sample()._cipher().encryptor()
    block = b"r" * 16 + (10_000).to_bytes(4, "big") + b"<xml/>" + bytes([6]) * 6  # 32 bytes
    forged = base64.b64encode(lying.update(block) + lying.finalize()).decode()
    assert _rejected(crypto, forged) == (400, "undecryptable")


@pytest.mark.parametrize("key", ["", "short", SAMPLE_KEY + "A", SAMPLE_KEY[:-1] + "!", SAMPLE_KEY[:-1] + "="])
def test_a_malformed_encoding_aes_key_is_refused(key: str) -> None:
    with pytest.raises(ValueError):
        aes_key(key)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=200), st.binary(max_size=300).map(lambda b: base64.b64encode(b).decode())))
def test_no_encrypt_text_escapes_as_anything_but_a_clear_refusal(encrypted: str) -> None:
    try:
        sample().decrypt(encrypted)
    except RequestRejected as exc:
        assert exc.status in (400, 403)
