/* Case statistics for ops, at the top of the cases view: a period, a row per category and
 * one for all (GET /api/v1/cases/stats), and the same as CSV.
 */
import "./cases.js"; // the section this card goes in
import { api } from "./api.js";
import { $, el, show } from "./dom.js";
import { on } from "./hooks.js";
import { t } from "./i18n.js";
import { state } from "./state.js";
import { addStrings } from "./strings.js";
import { activeView } from "./views.js";

addStrings({
  en: {
    caseStats: "Case statistics", statsFrom: "From", statsTo: "To", statsShow: "Show", statsCsv: "Download CSV",
    stReceived: "Received", stOpen: "Open", stResolved: "Resolved", stOnTime: "On time", stMedian: "Median to resolve",
    stExtended: "Extended", stReopened: "Reopened", stOverdue: "Overdue now", stAll: "All categories", hours: "{h} h",
  },
  zh: {
    caseStats: "案件统计", statsFrom: "从", statsTo: "到", statsShow: "查看", statsCsv: "下载 CSV",
    stReceived: "受理", stOpen: "处理中", stResolved: "已办结", stOnTime: "按时办结率", stMedian: "办结用时中位数",
    stExtended: "延期", stReopened: "重新打开", stOverdue: "当前超期", stAll: "全部类别", hours: "{h} 小时",
  },
});

const COLUMNS = ["stReceived", "stOpen", "stResolved", "stOnTime", "stMedian", "stExtended", "stReopened", "stOverdue"];
let data = null;

const isoDay = (date) => date.toISOString().slice(0, 10);

function build() {
  const today = new Date();
  const from = el("input", { id: "stats-from", type: "date", value: isoDay(new Date(today.getTime() - 29 * 86400000)) });
  const to = el("input", { id: "stats-to", type: "date", value: isoDay(today) });
  return el(
    "section",
    { id: "case-stats", className: "card case-stats", "aria-labelledby": "case-stats-title", hidden: true },
    el("h2", { id: "case-stats-title", text: t("caseStats"), dataset: { i18n: "caseStats" } }),
    el(
      "form",
      { className: "period", onsubmit: (event) => (event.preventDefault(), loadStats()) },
      el("label", { for: "stats-from", text: t("statsFrom"), dataset: { i18n: "statsFrom" } }),
      from,
      el("label", { for: "stats-to", text: t("statsTo"), dataset: { i18n: "statsTo" } }),
      to,
      el("button", { type: "submit", text: t("statsShow"), dataset: { i18n: "statsShow" } }),
      el("button", { type: "button", id: "stats-csv", text: t("statsCsv"), dataset: { i18n: "statsCsv" }, onclick: downloadCsv }),
    ),
    el("p", { id: "stats-error", className: "error", role: "alert", hidden: true }),
    el("div", { className: "table-wrap" }, el("table", { id: "case-stats-table" }, el("thead"), el("tbody"))),
  );
}

const card = build();
$("cases-view").prepend(card);

function period() {
  return new URLSearchParams({ from: $("stats-from").value, to: $("stats-to").value });
}

export async function loadStats() {
  const error = $("stats-error");
  try {
    data = await api("GET", `/api/v1/cases/stats?${period()}`);
    show(error, false);
  } catch (err) {
    error.textContent = err.message;
    show(error, true);
    return;
  }
  render();
}

const pct = (v) => (v == null ? t("none") : `${Math.round(v * 1000) / 10}%`);

function cells(f) {
  const open = f.by_stage.received + f.by_stage.investigating + f.by_stage.waiting_third_party;
  return [
    f.received,
    open,
    f.resolved,
    pct(f.on_time_rate),
    f.median_hours_to_resolve == null ? t("none") : t("hours", { h: f.median_hours_to_resolve }),
    f.extended,
    f.reopened,
    f.overdue,
  ].map((v, i) => el("td", { className: `num${i === 7 && v > 0 ? " overdue-text" : ""}`, text: String(v) }));
}

function render() {
  const table = $("case-stats-table");
  table.querySelector("thead").replaceChildren(
    el("tr", {}, el("th", { scope: "col", text: t("caseCategory") }), ...COLUMNS.map((c) => el("th", { scope: "col", className: "num", text: t(c) }))),
  );
  if (!data) return;
  const rows = Object.entries(data.by_category).map(([id, f]) =>
    el("tr", { dataset: { category: id } }, el("th", { scope: "row", text: f.name[state.lang] || f.name.en || id }), ...cells(f)),
  );
  rows.push(el("tr", { className: "total", dataset: { category: "all" } }, el("th", { scope: "row", text: t("stAll") }), ...cells(data)));
  table.querySelector("tbody").replaceChildren(...rows);
}

async function downloadCsv() {
  const resp = await fetch(`/api/v1/cases/stats?${period()}&format=csv`, {
    headers: { Authorization: `Bearer ${state.token}` },
    cache: "no-store",
  });
  if (!resp.ok) return;
  const url = URL.createObjectURL(await resp.blob());
  const link = el("a", { href: url, download: `cases-${$("stats-from").value}-${$("stats-to").value}.csv` });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

const isOps = () => Boolean(state.principal) && state.principal.role === "ops";

on("workspace", () => show(card, isOps()));
on("view", (id) => {
  if (id === "cases" && isOps()) loadStats();
});
on("refresh", () => {
  if (activeView() === "cases" && isOps()) loadStats();
});
on("language", () => {
  for (const node of card.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  render();
});
on("signout", () => {
  data = null;
  show(card, false);
});
