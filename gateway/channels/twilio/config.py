"""``channels.twilio``: the account, where replies come from, and the support phone line."""

from __future__ import annotations

from pydantic import Field, field_validator

from gateway.channels.config import Duration, GuardSecret, Secret, Section


class TwilioMenuOption(Section):
    """One choice of the phone menu: the key to press, and what it means for routing."""

    digit: str = Field(pattern=r"^[0-9*#]$")
    topic: str = Field(min_length=1, max_length=64)  # the conversation attribute's value
    label_zh: str
    label_en: str
    # Spoken instead of the generated "{label}请按{digit}" / "For {label}, press {digit}."
    prompt_zh: str | None = None
    prompt_en: str | None = None
    keywords: list[str] = Field(default_factory=list)  # speech that picks it (and hints)


def _default_menu() -> list[TwilioMenuOption]:
    return [
        TwilioMenuOption(
            digit="1",
            topic="payments",
            label_zh="付款问题",
            label_en="payments",
            keywords=["payment", "pay", "card", "付款", "支付", "转账", "扣款"],
        ),
        TwilioMenuOption(
            digit="2",
            topic="account",
            label_zh="账户与密码",
            label_en="account and password",
            keywords=["account", "password", "login", "locked", "账户", "账号", "密码", "登录", "冻结"],
        ),
        TwilioMenuOption(
            digit="3",
            topic="refunds",
            label_zh="退款",
            label_en="refunds",
            keywords=["refund", "money back", "退款", "退钱"],
        ),
        TwilioMenuOption(
            digit="0",
            topic="voicemail",
            label_zh="留言",
            label_en="leave a message",
            prompt_zh="留言请按0。",
            prompt_en="To leave a message, press 0.",
            keywords=["message", "voicemail", "留言"],
        ),
    ]


class TwilioVoiceConfig(Section):
    """The support phone line: bilingual greeting, menu, voicemail."""

    attribute: str = Field("menu", min_length=1, max_length=64)  # conversation attribute set by the choice
    greeting_zh: str = "您好，欢迎致电客户服务中心。"
    greeting_en: str = "Hello, thank you for calling customer support."
    options: list[TwilioMenuOption] = Field(default_factory=_default_menu, min_length=1, max_length=12)
    retry_zh: str = "抱歉，没有听清您的选择。"
    retry_en: str = "Sorry, we did not get your choice."
    voicemail_zh: str = "请在提示音后说明您的问题，按井号键结束，我们会尽快回复您。"
    voicemail_en: str = (
        "Please describe your problem after the tone and press the pound key when done. We will get back to you soon."
    )
    thanks_zh: str = "谢谢您的留言，再见。"
    thanks_en: str = "Thank you for your message. Goodbye."
    no_message_zh: str = "我们没有收到您的留言，再见。"
    no_message_en: str = "We did not receive a message. Goodbye."
    withheld_zh: str = "抱歉，我们无法受理隐藏号码的来电，请显示号码后再拨，或给我们发短信。"
    withheld_en: str = (
        "Sorry, we cannot take calls from withheld numbers. Please call again showing your number, or text us."
    )
    voice_zh: str | None = "Polly.Zhiyu"
    language_zh: str = "cmn-CN"
    voice_en: str | None = "Polly.Joanna"
    language_en: str = "en-US"
    speech_language: str = "cmn-Hans-CN"  # what <Gather> listens for; hints cover English words
    gather_timeout: int = Field(6, ge=1, le=60)
    menu_attempts: int = Field(2, ge=1, le=5)
    max_recording_seconds: int = Field(120, ge=5, le=14400)  # Twilio transcribes at most 2 minutes
    transcribe: bool = True
    missed_calls: bool = True  # a call status callback for a call without a menu choice becomes a message

    @field_validator("options")
    @classmethod
    def _distinct_digits(cls, value: list[TwilioMenuOption]) -> list[TwilioMenuOption]:
        digits = [o.digit for o in value]
        if len(set(digits)) != len(digits):
            raise ValueError("two menu options use the same digit")
        return value


class TwilioConfig(Section):
    account_sid: str = Field(min_length=1)
    auth_token: GuardSecret
    api_base_url: str = "https://api.twilio.com"
    from_number: str | None = None
    messaging_service_sid: str | None = None
    # The secret of a webhook SharedKey, when requests name one in
    # X-Twilio-Webhooks-Signature-Settings; else the auth token signs.
    webhook_signing_key: Secret | None = None
    send_timeout: Duration = 15.0
    voice: TwilioVoiceConfig = Field(default_factory=TwilioVoiceConfig)

    @field_validator("api_base_url")
    @classmethod
    def _no_slash(cls, value: str) -> str:
        return value.rstrip("/")
