"""The feedback form's HTML, in Chinese or English: plain HTML and a form, no script at
all; everything a visitor typed is escaped on the way back."""

from __future__ import annotations

from html import escape

from aiohttp import web

from gateway.cases.texts import date_text
from gateway.cases.workflow import Workflow

CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

WORDS = {
    "zh": {
        "title": "投诉与建议",
        "intro": "请告诉我们发生了什么。提交后您会得到一个案件编号，我们会通过邮件或短信告知处理进度。",
        "name": "您的姓名",
        "email": "电子邮箱",
        "phone": "手机号码",
        "either": "邮箱和手机号至少填写一项。",
        "category": "类别",
        "text": "详细情况",
        "submit": "提交",
        "fix": "请修改以下内容：",
        "thanks": "已收到，谢谢！",
        "number": "您的案件编号",
        "due": "我们将在此日期前答复您：",
        "keep": "请保存此编号。您可随时回复编号或“进度”查询处理情况。",
        "other": "English",
        "again": "再提交一条",
    },
    "en": {
        "title": "Complaints and feedback",
        "intro": "Tell us what happened. You get a case number, and we keep you posted by email or SMS.",
        "name": "Your name",
        "email": "Email",
        "phone": "Mobile number",
        "either": "Give an email address, a mobile number, or both.",
        "category": "Category",
        "text": "What happened",
        "submit": "Send",
        "fix": "Please fix the following:",
        "thanks": "Received, thank you!",
        "number": "Your case number",
        "due": "We will answer you by:",
        "keep": 'Keep this number. Reply with it, or with "status", at any time to see where your case stands.',
        "other": "中文",
        "again": "Send another",
    },
}

STYLE = """
body{font:16px/1.5 system-ui,-apple-system,"PingFang SC","Microsoft YaHei",sans-serif;margin:0;background:#f4f6f8;color:#1c2430}
main{max-width:560px;margin:32px auto;background:#fff;padding:24px 28px;border-radius:10px;box-shadow:0 1px 4px #0002}
h1{font-size:1.4em;margin:0 0 8px}label{display:block;margin-top:14px;font-weight:600}
input,select,textarea{width:100%;box-sizing:border-box;padding:8px;border:1px solid #b8c2cc;border-radius:6px;font:inherit}
textarea{min-height:140px}button{margin-top:18px;padding:10px 22px;border:0;border-radius:6px;background:#1769e0;color:#fff;font:inherit}
.hint{color:#5b6675;font-size:.9em}.problems{background:#fdecec;border:1px solid #f3b5b5;padding:8px 12px;border-radius:6px}
.number{font-size:1.6em;font-weight:700;letter-spacing:.03em}nav{text-align:right}
"""


def _page(language: str, body: str, status: int = 200) -> web.Response:
    words = WORDS[language]
    other = "en" if language == "zh" else "zh"
    html = (
        f'<!DOCTYPE html>\n<html lang="{language}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(words['title'])}</title><style>{STYLE}</style></head>"
        f'<body><main><nav><a href="/feedback?lang={other}">{escape(words["other"])}</a></nav>{body}</main></body></html>'
    )
    return web.Response(
        text=html,
        status=status,
        content_type="text/html",
        charset="utf-8",
        headers={"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"},
    )


def form_page(
    workflow: Workflow,
    language: str,
    *,
    values: dict[str, str] | None = None,
    problems: list[str] | None = None,
    status: int = 200,
) -> web.Response:
    words = WORDS[language]
    values = values or {}

    def value(name: str) -> str:
        return escape(values.get(name, ""), quote=True)

    options = "".join(
        f'<option value="{escape(cid, quote=True)}"{" selected" if values.get("category") == cid else ""}>'
        f"{escape(workflow.categories[cid].name.pick(language))}</option>"
        for cid in workflow.form_categories()
    )
    shown = ""
    if problems:
        items = "".join(f"<li>{escape(p)}</li>" for p in problems)
        shown = f'<div class="problems" role="alert"><p>{escape(words["fix"])}</p><ul>{items}</ul></div>'
    body = (
        f"<h1>{escape(words['title'])}</h1><p class=hint>{escape(words['intro'])}</p>{shown}"
        f'<form method="post" action="/feedback" accept-charset="utf-8">'
        f'<input type="hidden" name="lang" value="{language}">'
        f'<label for="name">{escape(words["name"])}</label>'
        f'<input id="name" name="name" required maxlength="100" value="{value("name")}" autocomplete="name">'
        f'<label for="email">{escape(words["email"])}</label>'
        f'<input id="email" name="email" type="email" maxlength="254" value="{value("email")}" autocomplete="email">'
        f'<label for="phone">{escape(words["phone"])}</label>'
        f'<input id="phone" name="phone" type="tel" maxlength="32" value="{value("phone")}" autocomplete="tel">'
        f"<p class=hint>{escape(words['either'])}</p>"
        f'<label for="category">{escape(words["category"])}</label><select id="category" name="category">{options}</select>'
        f'<label for="text">{escape(words["text"])}</label>'
        f'<textarea id="text" name="text" required maxlength="4000">{value("text")}</textarea>'
        f'<button type="submit">{escape(words["submit"])}</button></form>'
    )
    return _page(language, body, status)


def thanks_page(workflow: Workflow, language: str, number: str, due_ms: int | None) -> web.Response:
    words = WORDS[language]
    due = ""
    if due_ms:
        due = f"<p>{escape(words['due'])} <strong>{escape(date_text(due_ms, workflow, language))}</strong></p>"
    body = (
        f"<h1>{escape(words['thanks'])}</h1><p>{escape(words['number'])}:</p>"
        f'<p class="number" id="case-number">{escape(number)}</p>{due}'
        f"<p class=hint>{escape(words['keep'])}</p>"
        f'<p><a href="/feedback?lang={language}">{escape(words["again"])}</a></p>'
    )
    return _page(language, body)
