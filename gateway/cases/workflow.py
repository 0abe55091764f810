"""The workflow file (``cases.file``): categories with their deadlines, the case number
prefix, the texts the customer and merchants receive, and the feedback form's settings.

Every key has a schema; an unknown key, a missing one or a wrong value is an error that
names its ``PATH:LINE`` (``gateway.cases.workflow_file``). Texts are ``{zh, en}``; each
may use only the placeholders listed for it, and some must use some (an extension always
tells the customer its reason and the new date).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from gateway.cases.stages import STAGES
from gateway.channels.config import Duration


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
CategoryId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")]


class Texts(Strict):
    zh: NonEmpty
    en: NonEmpty

    def pick(self, language: str) -> str:
        return self.zh if language == "zh" else self.en


class Category(Strict):
    name: Texts
    kind: Literal["complaint", "feedback"]
    first_update_within: Duration  # the customer hears of progress by then
    resolve_within: Duration  # the answer is due by then
    max_resolve_within: Duration  # no extension goes past this, counted from receipt
    queue: Annotated[str, StringConstraints(min_length=1, max_length=128)]  # where an overdue case is offered
    priority: int = Field(5, ge=0, le=9)  # the offer's priority before the overdue rise
    business_hours: bool = False  # deadlines count only business hours (the rules' calendar)

    @model_validator(mode="after")
    def _ordered(self) -> Category:
        if min(self.first_update_within, self.resolve_within, self.max_resolve_within) <= 0:
            raise ValueError("first_update_within, resolve_within and max_resolve_within must be more than 0")
        if self.first_update_within > self.resolve_within:
            raise ValueError("first_update_within must not be longer than resolve_within")
        if self.resolve_within > self.max_resolve_within:
            raise ValueError("resolve_within must not be longer than max_resolve_within")
        return self


# Placeholders each text may use, and those it must use.
PLACEHOLDERS: dict[str, tuple[set[str], set[str]]] = {
    "opened": ({"number", "category", "stage", "eta", "summary"}, {"number", "eta"}),
    "progress": ({"number", "category", "stage", "eta", "note"}, {"note"}),
    "extended": ({"number", "category", "stage", "eta", "reason"}, {"reason", "eta"}),
    "resolved": ({"number", "category", "stage", "eta", "note"}, {"note"}),
    "status": ({"number", "category", "stage", "eta", "note"}, {"number", "stage"}),
    "not_found": ({"number"}, set()),
    "merchant": ({"number", "category", "summary", "name"}, {"number", "summary"}),
    "merchant_subject": ({"number", "category"}, {"number"}),
}
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def placeholders(text: str) -> set[str]:
    return set(_PLACEHOLDER.findall(text))


def _texts(zh: str, en: str) -> Texts:
    return Texts(zh=zh, en=en)


class Templates(Strict):
    opened: Texts = _texts(
        "您好，您的{category}已受理，编号 {number}。我们将在 {eta} 前给您答复。"
        "如需了解进度，直接回复编号或“进度”即可。",
        "Hello, we have registered your case {number} ({category}). We will answer you by {eta}. "
        'To see where it stands, reply with the case number or "status".',
    )
    progress: Texts = _texts(
        "您的案件 {number} 有新进展（{stage}）：{note}\n预计完成日期：{eta}。",
        "An update on your case {number} ({stage}): {note}\nExpected by {eta}.",
    )
    extended: Texts = _texts(
        "很抱歉，您的案件 {number} 需要更多时间处理。原因：{reason}\n新的答复日期：{eta}。",
        "We are sorry: your case {number} needs more time. The reason: {reason}\nWe will now answer by {eta}.",
    )
    resolved: Texts = _texts(
        "您的案件 {number} 已处理完毕：{note}\n如仍有问题，请直接回复本消息。",
        "Your case {number} is resolved: {note}\nIf anything is still wrong, just reply to this message.",
    )
    status: Texts = _texts(
        "案件 {number}：{stage}。\n最新进展：{note}\n预计完成日期：{eta}。",
        "Case {number}: {stage}.\nLatest: {note}\nExpected by {eta}.",
    )
    not_found: Texts = _texts(
        "没有找到与您的联系方式相符的案件 {number}，请核对编号。如需帮助，客服人员会尽快回复您。",
        "We found no case {number} for you. Please check the number; a member of our team will get back to you.",
    )
    merchant: Texts = _texts(
        "{name} 您好：\n\n我们收到一位客户的{category}，编号 {number}：\n\n{summary}\n\n"
        "请直接回复本邮件说明情况，您的回复将记入该案件。谢谢配合！",
        "Dear {name},\n\nA customer has raised case {number} ({category}) that concerns you:\n\n{summary}\n\n"
        "Please reply to this email with your account of it; your reply is added to the case. Thank you.",
    )
    merchant_subject: Texts = _texts("[{number}] 客户{category}协查", "[{number}] Customer case: {category}")

    @field_validator("*")
    @classmethod
    def _placeholders(cls, texts: Texts, info: ValidationInfo) -> Texts:
        allowed, required = PLACEHOLDERS[info.field_name or ""]
        problems = []
        for language in ("zh", "en"):
            used = placeholders(getattr(texts, language))
            if unknown := sorted(used - allowed):
                problems.append(
                    f"{language}: unknown placeholder {_braced(unknown)} (it may use {_braced(sorted(allowed))})"
                )
            if missing := sorted(required - used):
                problems.append(f"{language}: must include {_braced(missing)}")
        if problems:
            raise ValueError("; ".join(problems))
        return texts


def _braced(names: list[str]) -> str:
    return ", ".join("{" + name + "}" for name in names)


def _stage_names() -> dict[str, Texts]:
    return {
        "received": _texts("已受理", "received"),
        "investigating": _texts("调查处理中", "being investigated"),
        "waiting_third_party": _texts("等待商户或第三方回复", "waiting for the merchant or a third party"),
        "resolved": _texts("已解决", "resolved"),
        "closed": _texts("已结案", "closed"),
    }


class FormSettings(Strict):
    """The public feedback form (``GET /feedback``, ``POST /api/v1/feedback``)."""

    categories: list[CategoryId] | None = None  # offered on the form; default: every category
    per_ip: int = Field(10, ge=1, le=100_000)  # submissions per address per window
    per_identity: int = Field(5, ge=1, le=100_000)  # per email address or phone number
    window: Duration = 3600.0


def _progress_keywords() -> list[str]:
    return ["进度", "查询", "进展", "处理得怎么样", "status", "progress", "case update"]


class Workflow(Strict):
    number_prefix: str  # case numbers read <PREFIX>-<YYYYMMDD>-<NNNN>
    timezone: str = "UTC"  # the date in case numbers and the dates customers are told
    default_language: Literal["zh", "en"] = "zh"  # when the customer's cannot be told
    due_soon_at: float = Field(0.8, gt=0, lt=1)  # fraction of a deadline at which case.due_soon fires
    reopen_within: Duration = 7 * 86400.0  # a customer's reply this soon after the resolution reopens
    overdue_priority_rise: int = Field(2, ge=0, le=9)
    progress_keywords: list[NonEmpty] = Field(default_factory=_progress_keywords)
    categories: dict[CategoryId, Category] = Field(min_length=1)
    templates: Templates = Templates()
    stage_names: dict[str, Texts] = Field(default_factory=_stage_names)
    form: FormSettings = FormSettings()

    @field_validator("number_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Z][A-Z0-9]{0,9}", value):
            raise ValueError("must be 1 to 10 capital letters or digits starting with a letter, e.g. CP")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "Asia" is a directory
            raise ValueError(f"unknown time zone {value!r} (use e.g. Asia/Shanghai or UTC)") from None
        return value

    @field_validator("stage_names")
    @classmethod
    def _stages(cls, value: dict[str, Texts]) -> dict[str, Texts]:
        if unknown := sorted(set(value) - set(STAGES)):
            raise ValueError(f"unknown stage {', '.join(unknown)} (the stages are {', '.join(STAGES)})")
        return {**_stage_names(), **value}

    @model_validator(mode="after")
    def _form_categories(self) -> Workflow:
        unknown = sorted(set(self.form.categories or []) - set(self.categories))
        if unknown:
            raise ValueError(f"form.categories: no category {', '.join(unknown)} in categories")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def form_categories(self) -> list[str]:
        return list(self.form.categories or self.categories)

    def queues(self) -> set[str]:
        return {c.queue for c in self.categories.values()}
