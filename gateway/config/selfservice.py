"""Self-service and feedback: ``faq``, ``knowledge``, ``csat`` and ``surveys``."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from gateway.channels.config import Duration, Section
from gateway.model import Channel


def _faq_channels() -> list[Channel]:
    return [
        Channel.WEBCHAT,
        Channel.WHATSAPP,
        Channel.MESSENGER,
        Channel.INSTAGRAM,
        Channel.TELEGRAM,
        Channel.WECHAT,
        Channel.SMS,
        Channel.API,
    ]


class FaqConfig(Section):
    """Self-service answers (``gateway.selfservice.service``); off without ``file``."""

    file: Path | None = None
    channels: list[Channel] = Field(default_factory=_faq_channels)
    email: bool = False  # email gets FAQ answers only when on (never loop-guarded mail)
    handoff_keywords: list[str] = Field(default_factory=lambda: ["人工", "转人工", "客服", "agent", "human", "person"])
    # A message made only of these ("好的，谢谢！") keeps a self-service conversation quiet.
    acknowledgements: list[str] = Field(
        default_factory=lambda: [
            "谢谢", "多谢", "感谢", "好的", "好", "嗯", "明白", "明白了", "知道了", "收到", "可以了", "解决了",
            "thanks", "thank you", "thx", "ok", "okay", "got it", "great", "cool", "👍", "🙏",
        ]
    )  # fmt: skip
    hint: str = '回复“人工”转人工客服 / Reply "agent" to talk to a person.'
    handoff_reply: str = "好的，正在为您转接人工客服，请稍候。/ OK, we are connecting you to a person, please hold on."
    # Added to the handoff confirmation from live queue data ({ahead}, {position}, {minutes}).
    queue_position: str = "您前面还有 {ahead} 位客户在等待。/ You are number {position} in the queue."
    queue_next: str = "您是下一位。/ You are next in the queue."
    expected_wait: str = "预计等待约 {minutes} 分钟。/ The expected wait is about {minutes} min."
    nobody_online: str = (
        "目前暂无客服在线，客服上线后会尽快回复您。/ No agent is online right now; one will answer as soon as they are."
    )
    max_answers: int = Field(3, ge=1, le=20)  # FAQ answers in one self-service episode before a person takes over
    max_chars: int = Field(300, ge=10, le=20_000)  # longer first messages go to a person
    idle_resolve: Duration = 1800.0  # quiet this long after an answer: resolved as deflected
    reload_interval: Duration = 2.0

    @field_validator("handoff_keywords")
    @classmethod
    def _some_handoff(cls, value: list[str]) -> list[str]:
        cleaned = [v.strip() for v in value if v.strip()]
        if not cleaned:
            raise ValueError("needs at least one keyword, or customers cannot reach a person")
        return cleaned


class CsatConfig(Section):
    """Rating requests after a person resolved a conversation (``gateway.selfservice.ratings``);
    off without the section or with ``enabled: false``."""

    enabled: bool = True
    window: Duration = 86400.0  # replies 1–5 within this time of the resolve count as the rating
    prompt: str = (
        "请为本次服务评分：回复 1-5 的数字（5 为非常满意），数字后可附上您的意见。\n"
        "Please rate our service: reply with a number from 1 to 5 (5 = excellent); you may add a comment after it."
    )
    thanks: str = "感谢您的评价！/ Thank you for your feedback!"  # "" = no thanks message

    @field_validator("prompt")
    @classmethod
    def _prompt(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value


class SurveysConfig(Section):
    """Satisfaction surveys sent by themselves (``gateway.reports.surveys``): every ``every``
    (aligned to Mondays 00:00 UTC) to the contacts active in the period just ended; without
    ``every`` only ops send them (POST /api/v1/surveys)."""

    every: Duration | None = None  # e.g. 7d: each Monday, for the week before
    channels: list[Channel] = Field(default_factory=list)  # empty: every channel
    question: str | None = Field(None, max_length=1000)  # None: the standard bilingual question


class KnowledgeConfig(Section):
    """The knowledge base agents search for canned replies (``gateway.selfservice.knowledge``);
    the FAQ's entries count as articles, with or without ``file``."""

    file: Path | None = None  # YAML ``articles:`` [{id, title, body, tags, language}]
    reload_interval: Duration = 2.0
