"""Is it from WeChat? Two signatures, both ``sha1`` hex of sorted strings.

* ``signature`` (query) over the ``token``, ``timestamp`` and ``nonce``: it authenticates
  the request URL, not the body, and comes on every GET and POST.
* ``msg_signature`` (query) of a safe-mode push, over the same and the ``<Encrypt>``
  text (``crypto.py``).

401 when the signature is missing, 403 when it does not verify (a missing ``timestamp``
or ``nonce`` included: nothing then verifies).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from gateway.channels.signatures import require_signature
from gateway.channels.wechat.crypto import WeChatCrypto


def wechat_signature(token: str, timestamp: str, nonce: str) -> str:
    return hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode("utf-8")).hexdigest()


def signature_valid(token: str, *, signature: str | None, timestamp: str | None, nonce: str | None) -> bool:
    if not signature or not timestamp or not nonce:
        return False
    expected = wechat_signature(token, timestamp, nonce)
    return hmac.compare_digest(signature.strip().lower().encode(), expected.encode())


def verify_signature(token: str, query: Mapping[str, str]) -> None:
    require_signature(
        query.get("signature"),
        lambda given: signature_valid(
            token, signature=given, timestamp=query.get("timestamp"), nonce=query.get("nonce")
        ),
        what="signature",
    )


def verify_msg_signature(crypto: WeChatCrypto, query: Mapping[str, str], encrypted: str) -> None:
    require_signature(
        query.get("msg_signature"),
        lambda given: crypto.signature_valid(
            signature=given, timestamp=query.get("timestamp"), nonce=query.get("nonce"), encrypted=encrypted
        ),
        what="msg_signature",
    )
