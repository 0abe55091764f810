/* Identity verification in the conversation pane (docs/verification.md): the contact's
 * state (none, pending, verified, failed, expired; by what, until when), an email the
 * visitor only typed marked unverified, and "Send code" (POST …/verify) for agents.
 * It renders whenever the pane does ("pane" hook); verification.* events reload the pane.
 */
import { api } from "./api.js";
import { refreshPane } from "./conversation.js";
import { $, badge, el, facts } from "./dom.js";
import { on } from "./hooks.js";
import { t, when } from "./i18n.js";
import { state } from "./state.js";
import { addStrings } from "./strings.js";

addStrings({
  en: {
    identity: "Identity", vf_none: "Not verified", vf_pending: "Code sent, waiting", vf_verified: "Verified",
    vf_failed: "Verification failed", vf_expired: "Verification expired", vfBy_sms: "code by SMS",
    vfBy_email: "code by email", vfBy_jwt: "signed in on the website", vfMethod: "How", vfSentTo: "Sent to",
    vfUntil: "Valid until", vfExpires: "Code expires", vfAttempts: "Attempts left", vfReason: "Why",
    vfReason_max_attempts: "too many wrong codes", vfReason_expired: "not answered in time",
    sendCode: "Send code", sendCodeAgain: "Send a new code", vfVia: "Send by", vfAuto: "best channel",
    vfSent: "Code sent to {to} by {via}.", claimed: "Typed in the chat", unverified: "unverified",
  },
  zh: {
    identity: "身份验证", vf_none: "未验证", vf_pending: "验证码已发送，等待回复", vf_verified: "已验证",
    vf_failed: "验证失败", vf_expired: "验证已过期", vfBy_sms: "短信验证码", vfBy_email: "邮件验证码",
    vfBy_jwt: "网站登录身份", vfMethod: "方式", vfSentTo: "发送至", vfUntil: "有效至", vfExpires: "验证码过期",
    vfAttempts: "剩余次数", vfReason: "原因", vfReason_max_attempts: "验证码错误次数过多",
    vfReason_expired: "未及时回复", sendCode: "发送验证码", sendCodeAgain: "重新发送验证码", vfVia: "发送方式",
    vfAuto: "自动选择", vfSent: "验证码已通过{via}发送至 {to}。", claimed: "聊天中填写", unverified: "未验证",
  },
});

let box = null;

function build() {
  const via = el(
    "select",
    { id: "verify-via", "aria-label": t("vfVia") },
    el("option", { value: "", text: t("vfAuto") }),
    el("option", { value: "sms", text: "SMS" }),
    el("option", { value: "email", text: "Email" }),
  );
  return el(
    "section",
    { id: "verification", className: "verification", "aria-labelledby": "verification-title" },
    el("h3", { id: "verification-title", text: t("identity") }),
    el("p", {}, el("span", { id: "verify-state" })),
    el("dl", { id: "verify-facts", className: "facts" }),
    el("p", { id: "verify-claim", className: "claim", hidden: true }),
    el(
      "div",
      { className: "verify-actions" },
      via,
      el("button", { id: "send-code", type: "button", onclick: sendCode, text: t("sendCode") }),
    ),
    el("p", { id: "verify-message", className: "note-line", role: "status" }),
  );
}

function mount() {
  if (box && box.isConnected) return box;
  const details = document.querySelector("#pane .details");
  if (!details) return null;
  box = build();
  details.prepend(box);
  return box;
}

function render() {
  const conv = state.current;
  if (!conv || !mount()) return;
  const v = conv.verification || { state: "none" };
  const attrs = (state.contact && state.contact.attributes) || {};
  const claims = [attrs.claimed_email, attrs.claimed_phone].filter(Boolean);
  const claimed = claims.length > 0;
  const available = v.available !== false;
  box.hidden = !available && !claimed;
  for (const id of ["verify-state", "verify-facts"]) $(id).hidden = !available;
  box.querySelector(".verify-actions").hidden = !available;
  $("verification-title").textContent = t("identity");
  $("verify-state").replaceChildren(badge(t(`vf_${v.state}`), `verify verify-${v.state}`));
  $("verify-state").dataset.state = v.state;
  const rows = [];
  if (v.method && v.state !== "none") rows.push([t("vfMethod"), t(`vfBy_${v.method}`)]);
  if (v.to && v.method !== "jwt") rows.push([t("vfSentTo"), v.to, "mono"]);
  if (v.state === "pending") {
    rows.push([t("vfAttempts"), v.attempts_left]);
    rows.push([t("vfExpires"), when(v.expires_at)]);
  }
  if (v.state === "verified") rows.push([t("vfUntil"), when(v.expires_at)]);
  if (v.reason) rows.push([t("vfReason"), t(`vfReason_${v.reason}`)]);
  facts($("verify-facts"), rows);
  const claim = $("verify-claim");
  claim.hidden = !claimed;
  claim.replaceChildren(
    ...(claimed
      ? [`${t("claimed")}: `, el("span", { className: "mono", text: claims.join(", ") }), " ", badge(t("unverified"), "unverified")]
      : []),
  );
  const button = $("send-code");
  button.textContent = v.state === "none" ? t("sendCode") : t("sendCodeAgain");
  const agent = state.principal && state.principal.role === "agent";
  button.hidden = !agent;
  $("verify-via").hidden = !agent;
  button.disabled = conv.status === "resolved" || v.state === "verified";
}

async function sendCode() {
  const conv = state.current;
  if (!conv) return;
  const line = $("verify-message");
  line.classList.remove("error");
  line.textContent = "";
  const via = $("verify-via").value;
  try {
    const sent = await api("POST", `/api/v1/conversations/${encodeURIComponent(conv.id)}/verify`, via ? { via } : {});
    line.textContent = t("vfSent", { to: sent.to, via: sent.via === "sms" ? "SMS" : "email" });
  } catch (err) {
    line.textContent = err.message;
    line.classList.add("error");
  }
  refreshPane();
}

on("pane", render);
on("language", render);
on("signout", () => {
  if (box) box.remove();
  box = null;
});
