"""``channels.wechat``: the Official Account (its token signs pushes) and, for safe
mode, its EncodingAESKey."""

from __future__ import annotations

import re

from pydantic import SecretStr, field_validator

from gateway.channels.config import GuardSecret, RealSecret, Secret, Section

_AES_KEY = re.compile(r"[A-Za-z0-9+/]{43}")


class WeChatConfig(Section):
    token: GuardSecret
    app_id: str
    app_secret: RealSecret
    api_base_url: str = "https://api.weixin.qq.com"
    # Safe (encrypted) mode: the account's EncodingAESKey, 43 characters of base64.
    encoding_aes_key: Secret | None = None

    @field_validator("encoding_aes_key")
    @classmethod
    def _aes_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _AES_KEY.fullmatch(value.get_secret_value().strip()):
            raise ValueError("is not an EncodingAESKey (43 characters: A-Z, a-z, 0-9, + and /)")
        return value
