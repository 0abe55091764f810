"""WeChat's safe mode (消息加解密): pushes whose body is one ``<Encrypt>`` element.

The account's **EncodingAESKey** (43 characters of base64) is a 32-byte AES-256 key; the
IV is its first 16 bytes. The ciphertext (base64, CBC, PKCS#7 padding to 32-byte blocks)
holds ``16 random bytes | 4-byte big-endian length | the XML push | the AppID``. The
push is authenticated by ``msg_signature``: ``sha1`` of the sorted token, ``timestamp``,
``nonce`` and the ``<Encrypt>`` text, hex. The AppID at the end must be ours.

Pure: no I/O. Encrypting is here too, because the two directions are one format (a
passive reply in safe mode is encrypted the same way; the tests' fake WeChat pushes with it).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from gateway.errors import RequestRejected

KEY_LENGTH = 43  # characters of an EncodingAESKey
BLOCK_BITS = 256  # WeChat pads to 32 bytes, not AES's 16
_HEADER = 20  # random bytes + length


def aes_key(encoding_aes_key: str) -> bytes:
    """The 32-byte key of an EncodingAESKey; ValueError when it is not one."""
    text = encoding_aes_key.strip()
    if len(text) != KEY_LENGTH:
        raise ValueError(f"an EncodingAESKey is {KEY_LENGTH} characters, this one has {len(text)}")
    try:
        key = base64.b64decode(text + "=", validate=True)
    except binascii.Error:
        raise ValueError("an EncodingAESKey is base64 (A-Z, a-z, 0-9, + and /)") from None
    if len(key) != 32:
        raise ValueError("the EncodingAESKey does not decode to 32 bytes")
    return key


def msg_signature(token: str, timestamp: str, nonce: str, encrypted: str) -> str:
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, encrypted])).encode("utf-8")).hexdigest()


class WeChatCrypto:
    """One account's safe-mode codec."""

    def __init__(self, *, token: str, encoding_aes_key: str, app_id: str) -> None:
        self._token = token
        self._key = aes_key(encoding_aes_key)
        self.app_id = app_id

    def _cipher(self) -> Cipher[modes.CBC]:
        return Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16]))

    def signature_valid(
        self, *, signature: str | None, timestamp: str | None, nonce: str | None, encrypted: str
    ) -> bool:
        if not signature or not timestamp or not nonce:
            return False
        expected = msg_signature(self._token, timestamp, nonce, encrypted)
        return hmac.compare_digest(signature.strip().lower().encode(), expected.encode())

    def decrypt(self, encrypted: str) -> bytes:
        """The XML push inside ``encrypted``: 400 when it does not decrypt to one, 403 when
        it was encrypted for another AppID."""
        try:
            data = base64.b64decode(encrypted.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise RequestRejected(400, "undecryptable", "Encrypt is not base64") from None
        if not data or len(data) % 16:
            raise RequestRejected(400, "undecryptable", "Encrypt is not a whole number of AES blocks")
        decryptor = self._cipher().decryptor()
        padded = decryptor.update(data) + decryptor.finalize()
        unpadder = padding.PKCS7(BLOCK_BITS).unpadder()
        try:
            plain = unpadder.update(padded) + unpadder.finalize()
        except ValueError:
            raise RequestRejected(
                400, "undecryptable", "Encrypt does not decrypt with this EncodingAESKey (bad padding)"
            ) from None
        if len(plain) < _HEADER:
            raise RequestRejected(400, "undecryptable", "the decrypted push is too short")
        size = int.from_bytes(plain[16:_HEADER], "big")
        if _HEADER + size > len(plain):
            raise RequestRejected(400, "undecryptable", "the decrypted push's length field is wrong")
        xml, app_id = plain[_HEADER : _HEADER + size], plain[_HEADER + size :]
        if app_id.decode("utf-8", "replace") != self.app_id:
            raise RequestRejected(403, "wrong_app_id", "the push was encrypted for another AppID")
        return xml

    def encrypt(self, xml: bytes, *, nonce_bytes: bytes | None = None) -> str:
        """``xml`` as an ``<Encrypt>`` text for this account (16 fresh random bytes first,
        unless given)."""
        head = nonce_bytes if nonce_bytes is not None else os.urandom(16)
        if len(head) != 16:
            raise ValueError("the random prefix is 16 bytes")
        plain = head + len(xml).to_bytes(4, "big") + xml + self.app_id.encode("utf-8")
        padder = padding.PKCS7(BLOCK_BITS).padder()
        padded = padder.update(plain) + padder.finalize()
        encryptor = self._cipher().encryptor()
        return base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode("ascii")
