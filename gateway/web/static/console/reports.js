/* The reports view (ops): a period, the team's charts — volume by channel, SLA
 * attainment, CSAT, self-service deflection — drawn here as SVG (charts.js), each agent's
 * figures (GET /api/v1/agents/stats), and a satisfaction survey to send (POST
 * /api/v1/surveys) whose answers come back into the same figures.
 */
import { api } from "./api.js";
import { barChart, lineChart, PALETTE } from "./charts.js";
import { $, el, show } from "./dom.js";
import { on } from "./hooks.js";
import { duration, t } from "./i18n.js";
import { state } from "./state.js";
import { addStrings } from "./strings.js";
import { registerView } from "./views.js";

addStrings({
  en: {
    reports: "Reports", rpFrom: "From", rpTo: "To", rpShow: "Show", rpTeam: "Team", rpAgents: "Agents",
    rpVolume: "Conversations by channel", rpSla: "SLA attainment (replies within the target)", rpCsat: "CSAT (1–5, ratings and surveys)",
    rpDeflection: "Self-service: deflected and handed off", rpDeflected: "deflected", rpHandedOff: "handed off",
    rpAgent: "Agent", rpHandled: "Handled", rpResolved: "Resolved", rpFirst: "First response", rpReply: "Reply time",
    rpHandle: "Handle time", rpCsatCol: "CSAT", rpSlaCol: "SLA", rpCases: "Cases on time", rpNoData: "No activity in this period.",
    rpMedian: "medians", rpTruncated: "Only the newest {n} conversations were read.",
    svTitle: "Satisfaction survey", svHint: "One question to every contact active in the period, on their channel; closed messaging windows and opt-outs are skipped.",
    svQuestion: "Question (empty: the standard one, in each customer's language)", svSend: "Send survey", svRefresh: "Refresh",
    svStatus: "Survey {id}: {selected} selected, {sent} sent, {answered} answered (average {avg}), {opted} opted out, {skipped} skipped.",
    svChannels: "Only on (empty: everywhere)",
  },
  zh: {
    reports: "报表", rpFrom: "从", rpTo: "到", rpShow: "查看", rpTeam: "团队", rpAgents: "坐席",
    rpVolume: "各渠道会话量", rpSla: "SLA 达标率（时限内回复）", rpCsat: "满意度（1–5，评价与问卷）",
    rpDeflection: "自助服务：自助解决与转人工", rpDeflected: "自助解决", rpHandedOff: "转人工",
    rpAgent: "坐席", rpHandled: "接待", rpResolved: "解决", rpFirst: "首次响应", rpReply: "回复用时",
    rpHandle: "处理时长", rpCsatCol: "满意度", rpSlaCol: "达标率", rpCases: "案件按时办结", rpNoData: "该时间段内没有数据。",
    rpMedian: "中位数", rpTruncated: "只读取了最新的 {n} 个会话。",
    svTitle: "满意度问卷", svHint: "向该时间段内联系过我们的每位客户，通过其渠道发送一个问题；会话窗口已关闭或已退订的客户不会收到。",
    svQuestion: "问题（留空：使用标准问题，按客户语言发送）", svSend: "发送问卷", svRefresh: "刷新",
    svStatus: "问卷 {id}：选中 {selected} 位，已发送 {sent}，已回复 {answered}（平均 {avg}），退订 {opted}，跳过 {skipped}。",
    svChannels: "渠道（留空：全部）",
  },
});

const isoDay = (d) => d.toISOString().slice(0, 10);
let data = null;
let survey = null;
const expanded = new Set(); // agents whose days are shown

function labelled(id, key, input) {
  return [el("label", { for: id, text: t(key), dataset: { i18n: key } }), input];
}

function build() {
  const today = new Date();
  const from = el("input", { id: "rp-from", type: "date", value: isoDay(new Date(today.getTime() - 6 * 86400000)) });
  const to = el("input", { id: "rp-to", type: "date", value: isoDay(today) });
  return el(
    "section",
    { id: "reports-view", className: "reports-view", "aria-labelledby": "reports-title" },
    el(
      "section",
      { className: "card" },
      el("h2", { id: "reports-title", text: t("reports"), dataset: { i18n: "reports" } }),
      el(
        "form",
        { className: "period", onsubmit: (event) => (event.preventDefault(), load()) },
        ...labelled("rp-from", "rpFrom", from),
        ...labelled("rp-to", "rpTo", to),
        el("button", { type: "submit", text: t("rpShow"), dataset: { i18n: "rpShow" } }),
      ),
      el("p", { id: "rp-error", className: "error", role: "alert", hidden: true }),
      el("p", { id: "rp-note", className: "muted small" }),
    ),
    el("section", { className: "card" }, el("h3", { text: t("rpTeam"), dataset: { i18n: "rpTeam" } }), el("div", { id: "rp-charts", className: "charts" })),
    el(
      "section",
      { className: "card" },
      el("h3", {}, el("span", { text: t("rpAgents"), dataset: { i18n: "rpAgents" } }), " ", el("span", { className: "muted small", text: `(${t("rpMedian")})`, id: "rp-median" })),
      el("div", { className: "table-wrap" }, el("table", { id: "rp-agents" }, el("thead"), el("tbody"))),
    ),
    el(
      "section",
      { className: "card" },
      el("h3", { text: t("svTitle"), dataset: { i18n: "svTitle" } }),
      el("p", { className: "hint", text: t("svHint"), dataset: { i18n: "svHint" } }),
      el(
        "form",
        { id: "survey-form", className: "case-form", onsubmit: sendSurvey },
        ...labelled("sv-question", "svQuestion", el("textarea", { id: "sv-question", rows: 2 })),
        ...labelled("sv-channels", "svChannels", el("input", { id: "sv-channels", placeholder: "webchat, sms, whatsapp" })),
        el("button", { type: "submit", className: "primary", text: t("svSend"), dataset: { i18n: "svSend" } }),
      ),
      el("p", { id: "sv-status", className: "note-line", role: "status" }),
      el("button", { id: "sv-refresh", type: "button", text: t("svRefresh"), dataset: { i18n: "svRefresh" }, hidden: true, onclick: refreshSurvey }),
    ),
  );
}

const section = build();
registerView({ id: "reports", label: "reports", roles: ["ops"], section, onShow: load });

async function load() {
  const params = new URLSearchParams({ from: $("rp-from").value, to: $("rp-to").value });
  try {
    data = await api("GET", `/api/v1/agents/stats?${params}`);
    show($("rp-error"), false);
  } catch (err) {
    $("rp-error").textContent = err.message;
    show($("rp-error"), true);
    return;
  }
  render();
}

const pct = (v) => (v == null ? t("none") : `${Math.round(v * 1000) / 10}%`);
const secs = (v) => (v == null ? t("none") : duration(v * 1000));

function render() {
  if (!data) return;
  $("rp-note").textContent = `${data.timezone}${data.truncated ? " · " + t("rpTruncated", { n: data.conversations_read }) : ""}`;
  const days = data.team.map((d) => d.day);
  const channels = [...new Set(data.team.flatMap((d) => Object.keys(d.volume_by_channel)))].sort();
  const charts = [
    barChart({
      label: t("rpVolume"),
      days,
      series: channels.map((ch, i) => ({ key: ch, label: t(`ch_${ch}`), color: PALETTE[i % PALETTE.length], values: data.team.map((d) => d.volume_by_channel[ch] || 0) })),
    }),
    lineChart({ label: t("rpSla"), days, values: data.team.map((d) => (d.sla_attainment == null ? null : d.sla_attainment * 100)), max: 100, format: (v) => `${Math.round(v)}%`, color: PALETTE[1] }),
    lineChart({ label: t("rpCsat"), days, values: data.team.map((d) => d.csat_average), min: 1, max: 5, format: (v) => (Math.round(v * 10) / 10).toString(), color: PALETTE[2] }),
    barChart({
      label: t("rpDeflection"),
      days,
      stacked: false,
      series: [
        { key: "deflected", label: t("rpDeflected"), color: PALETTE[1], values: data.team.map((d) => d.deflected) },
        { key: "handed_off", label: t("rpHandedOff"), color: PALETTE[4], values: data.team.map((d) => d.handed_off) },
      ],
    }),
  ];
  $("rp-charts").replaceChildren(...charts);
  const table = $("rp-agents");
  const cols = ["rpHandled", "rpResolved", "rpFirst", "rpReply", "rpHandle", "rpCsatCol", "rpSlaCol", "rpCases"];
  table.querySelector("thead").replaceChildren(el("tr", {}, el("th", { scope: "col", text: t("rpAgent") }), ...cols.map((c) => el("th", { scope: "col", className: "num", text: t(c) }))));
  const cellsOf = (f) =>
    [
      f.handled, f.resolved, secs(f.first_response_seconds_median), secs(f.reply_seconds_median), secs(f.handle_seconds_median),
      f.csat_average == null ? t("none") : `${f.csat_average} (${f.csat_count})`, pct(f.sla_attainment),
      f.cases_resolved ? `${f.cases_on_time}/${f.cases_resolved}` : t("none"),
    ].map((v) => el("td", { className: "num", text: String(v) }));
  // Each agent's total, then (unfolded by the button) a row per day.
  const rows = data.agents.flatMap((a) => {
    const open = expanded.has(a.agent);
    const toggle = el("button", {
      type: "button", className: "link", "aria-expanded": open ? "true" : "false", text: a.agent,
      onclick: () => { if (open) expanded.delete(a.agent); else expanded.add(a.agent); render(); },
    });
    const days = open ? a.days.map((d) => el("tr", { className: "day-row", dataset: { agent: a.agent, day: d.day } }, el("th", { scope: "row", className: "muted", text: d.day }), ...cellsOf(d))) : [];
    return [el("tr", { dataset: { agent: a.agent } }, el("th", { scope: "row" }, toggle), ...cellsOf(a.total)), ...days];
  });
  table.querySelector("tbody").replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: 9, className: "muted", text: t("rpNoData") }))]));
}

async function sendSurvey(event) {
  event.preventDefault();
  const body = { from: $("rp-from").value, to: $("rp-to").value };
  const question = $("sv-question").value.trim();
  if (question) body.question = question;
  const channels = $("sv-channels").value.split(/[\s,]+/).filter(Boolean);
  if (channels.length) body.channels = channels;
  const line = $("sv-status");
  line.classList.remove("error");
  try {
    survey = await api("POST", "/api/v1/surveys", body);
    renderSurvey();
  } catch (err) {
    line.textContent = err.message;
    line.classList.add("error");
  }
}

async function refreshSurvey() {
  if (!survey) return;
  try {
    survey = await api("GET", `/api/v1/surveys/${encodeURIComponent(survey.id)}`);
  } catch (err) {
    return;
  }
  renderSurvey();
}

function renderSurvey() {
  if (!survey) return;
  const skipped = Object.values(survey.skipped || {}).reduce((a, b) => a + b, 0);
  $("sv-status").textContent = t("svStatus", {
    id: survey.id, selected: survey.selected, sent: survey.sent || 0, answered: survey.answered || 0,
    avg: survey.average == null ? t("none") : survey.average, opted: survey.opted_out || 0, skipped,
  });
  show($("sv-refresh"), true);
}

on("language", () => {
  for (const node of section.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  $("rp-median").textContent = `(${t("rpMedian")})`;
  render();
  renderSurvey();
});
on("signout", () => {
  data = null;
  survey = null;
  $("sv-status").textContent = "";
  show($("sv-refresh"), false);
});
on("event", (frame) => {
  if (state.principal && state.principal.role === "ops" && survey && frame.event === "message.inbound") refreshSurvey();
});
