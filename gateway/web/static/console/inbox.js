/* The agent's inbox: what waits in the queues they serve (wait time, reply-by countdown,
 * channel, preview, priority), their own, their resolved history, and a search over
 * everything (GET /api/v1/conversations?q=…). Picking a waiting conversation claims it.
 *
 * Its card is built here and placed in the agent's side column, so the page's HTML only
 * holds the column.
 */
import { refreshMe } from "./agent.js";
import { api } from "./api.js";
import { tick } from "./clocks.js";
import { openConversation } from "./conversation.js";
import { $, badge, el, show } from "./dom.js";
import { on } from "./hooks.js";
import { channelName, duration, t } from "./i18n.js";
import { learnContactNames } from "./ops.js";
import { schedule } from "./session.js";
import { CHANNELS, state } from "./state.js";
import { addStrings } from "./strings.js";

addStrings({
  en: {
    inbox: "Inbox", inboxSearch: "Search messages, names, email, phone, case number…",
    inboxSearchLabel: "Search conversations", tabWaiting: "Waiting", tabMine: "Mine", tabResolved: "Resolved",
    tabAll: "All", inboxQueue: "Filter by queue", inboxAllQueues: "All my queues", inboxChannel: "Filter by channel",
    inboxAllChannels: "All channels", inboxDue: "Filter by reply-by time", inboxDueAny: "Any time", inboxDueSoon: "Due soon",
    inboxOverdue: "Overdue", inboxMore: "More", inboxEmpty: "Nothing here.", inboxNoMatch: "Nothing matches.",
    waitedFor: "waiting {d}", prioShort: "P{p}", inboxClaimed: "Claimed.",
    inboxTaken: "Someone else took it first.", inboxStale: "It moved on since; the list is reloaded.",
    inboxNotYours: "That queue is not one of yours.", inboxFull: "You are at your capacity; resolve one first.",
    inboxPick: "Take this conversation", inboxSearching: "Searching…",
  },
  zh: {
    inbox: "收件箱", inboxSearch: "搜索消息、姓名、邮箱、电话、案件编号…",
    inboxSearchLabel: "搜索会话", tabWaiting: "等待中", tabMine: "我的", tabResolved: "已解决",
    tabAll: "全部", inboxQueue: "按队列筛选", inboxAllQueues: "我的全部队列", inboxChannel: "按渠道筛选",
    inboxAllChannels: "全部渠道", inboxDue: "按回复时限筛选", inboxDueAny: "不限", inboxDueSoon: "即将到期",
    inboxOverdue: "已超时", inboxMore: "更多", inboxEmpty: "暂无会话。", inboxNoMatch: "没有匹配的会话。",
    waitedFor: "已等待 {d}", prioShort: "P{p}", inboxClaimed: "已接入。",
    inboxTaken: "已被其他坐席接入。", inboxStale: "会话已变化，列表已刷新。",
    inboxNotYours: "该队列不在你的技能范围内。", inboxFull: "已达到你的接待上限，请先解决一个会话。",
    inboxPick: "接入此会话", inboxSearching: "搜索中…",
  },
});

const TABS = ["waiting", "mine", "resolved", "all"];
const PAGE = 50;
const view = { tab: "waiting", q: "", queue: "", channel: "", due: "", items: [], cursor: null, seq: 0, built: false };

function select(id, label) {
  return [el("label", { for: id, className: "visually-hidden", dataset: { i18nInbox: label } }), el("select", { id })];
}

function build() {
  if (view.built || !$("agent-side")) return;
  view.built = true;
  const card = el(
    "section",
    { id: "inbox", className: "card inbox", "aria-labelledby": "inbox-title" },
    el("h2", { id: "inbox-title", dataset: { i18nInbox: "inbox" } }),
    el(
      "form",
      { id: "inbox-search", role: "search", className: "inbox-search", onsubmit: (e) => { e.preventDefault(); reload(); } },
      el("label", { for: "inbox-q", className: "visually-hidden", dataset: { i18nInbox: "inboxSearchLabel" } }),
      el("input", { id: "inbox-q", type: "search", autocomplete: "off", spellcheck: "false", maxlength: "200" }),
    ),
    el(
      "div",
      { className: "tabs", role: "tablist" },
      TABS.map((tab) =>
        el("button", {
          type: "button", role: "tab", id: `inbox-tab-${tab}`, className: "tab", dataset: { tab },
          onclick: () => setTab(tab),
        }),
      ),
    ),
    el("div", { className: "inbox-filters" }, select("inbox-queue", "inboxQueue"), select("inbox-channel", "inboxChannel"), select("inbox-due", "inboxDue")),
    el("p", { id: "inbox-message", className: "note-line", role: "status" }),
    el("ul", { id: "inbox-list", className: "conv-list", role: "tabpanel" }),
    el("p", { id: "inbox-empty", className: "muted", hidden: true }),
    el("button", { id: "inbox-more", type: "button", className: "ghost wide", hidden: true, onclick: () => load(true) }),
  );
  const side = $("agent-side");
  side.insertBefore(card, side.children[1] || null);
  $("inbox-q").addEventListener("input", () => schedule("inbox-q", reload, 300));
  for (const [id, key] of [["inbox-queue", "queue"], ["inbox-channel", "channel"], ["inbox-due", "due"]]) {
    $(id).addEventListener("change", () => {
      view[key] = $(id).value;
      reload();
    });
  }
  renderChrome();
}

function options(id, first, values) {
  const node = $(id);
  const chosen = node.value;
  node.replaceChildren(el("option", { value: "", text: first }), ...values.map(([value, text]) => el("option", { value, text })));
  if (values.some(([value]) => value === chosen)) node.value = chosen;
}

function myQueues() {
  return ((state.me && state.me.queues) || []).map((q) => q.name);
}

function renderChrome() {
  if (!view.built) return;
  for (const node of document.querySelectorAll("[data-i18n-inbox]")) node.textContent = t(node.dataset.i18nInbox);
  $("inbox-q").placeholder = t("inboxSearch");
  for (const tab of TABS) {
    const button = $(`inbox-tab-${tab}`);
    button.textContent = t(`tab${tab[0].toUpperCase()}${tab.slice(1)}`);
    button.setAttribute("aria-selected", String(tab === view.tab));
  }
  options("inbox-queue", t("inboxAllQueues"), myQueues().map((q) => [q, q]));
  options("inbox-channel", t("inboxAllChannels"), CHANNELS.map((c) => [c, channelName(c)]));
  options("inbox-due", t("inboxDueAny"), [["due_soon", t("inboxDueSoon")], ["overdue", t("inboxOverdue")]]);
  $("inbox-more").textContent = t("inboxMore");
}

function setTab(tab) {
  view.tab = tab;
  renderChrome();
  reload();
}

function query(extra) {
  const params = new URLSearchParams({ limit: String(PAGE), ...extra });
  view.q = $("inbox-q").value.trim();
  if (view.q) params.set("q", view.q);
  if (view.channel) params.set("channel", view.channel);
  if (view.due) params.set("sla", view.due);
  return params;
}

async function list(params) {
  return api("GET", `/api/v1/conversations?${params}`);
}

// Waiting conversations in claim order: higher priority, then the nearest reply-by, then the longest wait.
function claimOrder(a, b) {
  const rb = (c) => (c.reply_tracking && c.reply_tracking.reply_by ? Date.parse(c.reply_tracking.reply_by) : Infinity);
  return b.priority - a.priority || rb(a) - rb(b) || Date.parse(a.waiting_since) - Date.parse(b.waiting_since);
}

async function fetchTab(more) {
  if (view.tab === "waiting") {
    const queues = view.queue ? [view.queue] : myQueues();
    const pages = await Promise.all(queues.map((queue) => list(query({ status: "open", assignee: "-", queue, limit: "200" }))));
    return { items: pages.flatMap((p) => p.conversations).filter((c) => c.waiting_since).sort(claimOrder), cursor: null };
  }
  if (view.tab === "mine") {
    const extra = { assignee: "me", ...(view.queue ? { queue: view.queue } : {}) };
    const pages = await Promise.all(["open", "pending"].map((status) => list(query({ ...extra, status }))));
    const items = pages.flatMap((p) => p.conversations);
    const rb = (c) => (c.reply_tracking && c.reply_tracking.reply_by ? Date.parse(c.reply_tracking.reply_by) : Infinity);
    return { items: items.sort((a, b) => rb(a) - rb(b)), cursor: null };
  }
  const extra = view.tab === "resolved" ? { status: "resolved", assignee: "me" } : {};
  if (view.queue) extra.queue = view.queue;
  if (more && view.cursor) extra.cursor = view.cursor;
  const page = await list(query(extra));
  return { items: page.conversations, cursor: page.next_cursor };
}

export function reload() {
  return load(false);
}

async function load(more) {
  if (!view.built || !state.principal || state.principal.role !== "agent") return;
  const seq = ++view.seq;
  if (!state.me) await refreshMe();
  let found;
  try {
    found = await fetchTab(more);
  } catch (err) {
    if (seq === view.seq) say(err.message, true);
    return;
  }
  if (seq !== view.seq) return; // a newer load started meanwhile
  view.items = more ? [...view.items, ...found.items] : found.items;
  view.cursor = found.cursor;
  render();
  if (await learnContactNames(view.items)) render();
}

function say(text, error) {
  const line = $("inbox-message");
  line.textContent = text || "";
  line.classList.toggle("error", Boolean(error));
}

function render() {
  if (!view.built) return;
  options("inbox-queue", t("inboxAllQueues"), myQueues().map((q) => [q, q]));
  const list = $("inbox-list");
  list.replaceChildren(...view.items.map(row));
  const empty = $("inbox-empty");
  empty.textContent = view.q ? t("inboxNoMatch") : t("inboxEmpty");
  show(empty, view.items.length === 0);
  show($("inbox-more"), Boolean(view.cursor));
  tick();
  ticking();
}

function row(conv) {
  const waiting = view.tab === "waiting";
  const rb = conv.reply_tracking && conv.reply_tracking.reply_by;
  const name = state.contactNames.get(conv.contact_id) || conv.subject || conv.id.slice(-8);
  const current = state.current && state.current.id === conv.id;
  return el(
    "li",
    {},
    el(
      "button",
      {
        type: "button",
        className: `conv-item inbox-item${current ? " current" : ""}`,
        dataset: { id: conv.id, priority: String(conv.priority) },
        title: waiting ? t("inboxPick") : null,
        onclick: () => (waiting ? claim(conv) : openConversation(conv.id)),
      },
      el(
        "span",
        { className: "line1" },
        el("span", { className: "name", text: name }),
        badge(channelName(conv.channel), `ch ch-${conv.channel}`),
        badge(t("prioShort", { p: conv.priority }), conv.priority >= 6 ? "prio high" : "prio"),
        conv.status !== "open" || !waiting ? badge(t(`status_${conv.status}`), `status-${conv.status}`) : null,
        waiting && conv.waiting_since ? el("span", { className: "wait muted small", dataset: { since: conv.waiting_since } }) : null,
      ),
      el("span", { className: "line2 preview", text: conv.preview || conv.subject || "" }),
      el("span", { className: "due", dataset: { replyBy: rb || "" } }),
    ),
  );
}

async function claim(conv) {
  say("");
  try {
    await api("POST", `/api/v1/conversations/${encodeURIComponent(conv.id)}/claim`, { routing_version: conv.routing_version });
  } catch (err) {
    const known = { taken: "inboxTaken", stale: "inboxStale", capacity: "inboxFull", not_qualified: "inboxNotYours" };
    say(known[err.code] ? t(known[err.code]) : err.message, true);
    reload();
    return;
  }
  say(t("inboxClaimed"));
  await openConversation(conv.id);
  refreshMe();
  reload();
}

// The wait times count up every second, like the reply-by clocks.
function ticking() {
  const now = Date.now();
  for (const node of document.querySelectorAll("#inbox .wait[data-since]")) {
    node.textContent = t("waitedFor", { d: duration(now - Date.parse(node.dataset.since)) });
  }
}
setInterval(ticking, 1000);

on("workspace", () => {
  const agent = state.principal && state.principal.role === "agent";
  if (agent) build();
  if (view.built) show($("inbox"), agent);
  if (agent) reload();
});
on("refresh", () => schedule("inbox", reload, 100));
on("event", (frame) => {
  if (frame.event !== "conversation.typing") schedule("inbox", reload, 400);
});
on("language", () => {
  if (view.built) say(""); // a line said in the other language
  renderChrome();
  render();
});
on("signout", () => {
  view.items = [];
  view.cursor = null;
  if (view.built) {
    $("inbox-q").value = "";
    render();
  }
});
