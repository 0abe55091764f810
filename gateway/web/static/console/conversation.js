/* The conversation pane: loading it with the contact's other conversations, its
 * header and details, and the actions on it (pending, resolve, transfer).
 */
import { refreshMe, renderMe } from "./agent.js";
import { api } from "./api.js";
import { tick } from "./clocks.js";
import { renderComposer, showComposerError } from "./composer.js";
import { $, badge, el, facts, setText, show } from "./dom.js";
import { emit } from "./hooks.js";
import { channelName, t, when } from "./i18n.js";
import { renderMessages } from "./messages.js";
import { refreshOps, renderOps } from "./ops.js";
import { HISTORY_CONVERSATIONS, agentName, state } from "./state.js";

let loadSeq = 0;

export async function openConversation(id) {
  state.unread.delete(id);
  if (!state.current || state.current.id !== id) {
    state.windowClosedByServer = false;
    $("reply-text").value = "";
    showComposerError(null);
    setText("action-message", "");
  }
  await loadConversation(id, true);
}

export function refreshPane() {
  if (state.current) loadConversation(state.current.id, false);
}

export async function loadConversation(id, scrollToEnd) {
  const seq = ++loadSeq;
  let conv, contact;
  try {
    conv = await api("GET", `/api/v1/conversations/${encodeURIComponent(id)}`);
    contact = conv.contact ? await api("GET", `/api/v1/contacts/${encodeURIComponent(conv.contact.id)}`) : null;
  } catch (err) {
    if (seq === loadSeq) setText("action-message", err.message);
    return;
  }
  const others = contact ? contact.conversations.filter((c) => c.id !== conv.id) : [];
  const extra = await Promise.all(
    others.slice(0, HISTORY_CONVERSATIONS).map((c) =>
      api("GET", `/api/v1/conversations/${encodeURIComponent(c.id)}`).catch(() => null),
    ),
  );
  if (seq !== loadSeq) return; // a newer load started meanwhile
  const history = [];
  for (const view of [conv, ...extra.filter(Boolean)]) {
    for (const m of view.messages || []) history.push({ message: m, conversation: view });
  }
  history.sort((a, b) => new Date(a.message.received_at) - new Date(b.message.received_at));
  const timeline = historyScroller();
  const atEnd = timeline.scrollHeight - timeline.scrollTop - timeline.clientHeight < 40;
  state.current = conv;
  state.contact = contact || conv.contact;
  state.others = others;
  state.history = history;
  updateLayout();
  renderPane();
  if (scrollToEnd || atEnd) timeline.scrollTop = timeline.scrollHeight;
  if (state.me) renderMe();
}

// What scrolls the history: the timeline column beside the details on a wide screen, the
// page itself on a phone (the list of messages never scrolls on its own).
export function historyScroller() {
  const box = $("messages").closest(".timeline");
  return box && getComputedStyle(box).overflowY !== "visible" ? box : document.scrollingElement;
}

export function updateLayout() {
  const open = Boolean(state.current);
  show($("pane"), open);
  show($("placeholder"), !open && state.principal && state.principal.role === "agent");
  $("workspace").classList.toggle("has-conversation", open);
}

export function closeConversation() {
  state.current = null;
  updateLayout();
  if (state.me) renderMe();
  if (state.principal && state.principal.role === "ops") renderOps();
}

export function renderPane() {
  const conv = state.current;
  if (!conv) return;
  const contact = state.contact;
  setText("conv-title", (contact && contact.name) || conv.subject || t("customer"));
  $("conv-badges").replaceChildren(
    badge(channelName(conv.channel), `ch ch-${conv.channel}`),
    badge(t(`status_${conv.status}`), `status-${conv.status}`),
  );
  const meta = [];
  if (conv.queue) meta.push(t("queuedIn", { queue: conv.queue }));
  meta.push(conv.assignee ? t("assignedTo", { agent: agentName(conv.assignee) }) : t("unassigned"));
  meta.push(t("prio", { p: conv.priority }));
  if (conv.subject) meta.push(conv.subject);
  setText("conv-meta", meta.join(" · "));
  const resolved = conv.status === "resolved";
  $("resolve").disabled = resolved;
  $("pending").disabled = resolved || conv.status === "pending";
  $("transfer").disabled = resolved;
  renderTransferQueues();
  renderMessages();
  renderDetails();
  renderComposer();
  tick();
  emit("pane", conv);
}

export function renderTransferQueues() {
  const select = $("transfer-queue");
  let names = [];
  if (state.me) names = state.me.transfer_queues || [];
  else if (state.ops.queues) names = state.ops.queues.queues.map((q) => q.name);
  const chosen = select.value;
  select.replaceChildren(
    ...names.filter((n) => !state.current || n !== state.current.queue).map((n) => el("option", { value: n, text: n })),
  );
  if (chosen && names.includes(chosen)) select.value = chosen;
}

export function renderDetails() {
  const contact = state.contact;
  facts($("contact-facts"), contact
    ? [
        [t("name"), contact.name],
        [t("since"), when(contact.created_at)],
        ...Object.entries(contact.attributes || {}).map(([k, v]) => [k, Array.isArray(v) ? v.join(", ") : v]),
      ]
    : []);
  $("identities").replaceChildren(
    ...((contact && contact.identities) || []).map((i) =>
      el("li", { dataset: { kind: i.kind } }, el("span", { className: "muted", text: `${t(`id_${i.kind}`)} ` }), el("span", { className: "mono", text: i.value })),
    ),
  );
  $("others").replaceChildren(
    ...(state.others.length
      ? state.others.map((c) =>
          el(
            "li",
            {},
            el(
              "button",
              { type: "button", className: "link", onclick: () => openConversation(c.id) },
              badge(channelName(c.channel), `ch ch-${c.channel}`),
              ` ${t(`status_${c.status}`)} · ${when(c.updated_at)}`,
            ),
          ),
        )
      : [el("li", { className: "muted", text: t("nothingHere") })]),
  );
  const r = state.current.routing;
  facts($("routing-facts"), r
    ? [
        [t("queue"), r.queue],
        [t("rule"), r.rule || t("noRule")],
        [t("priority"), r.priority],
        [t("skills"), (r.skills || []).join(", ") || t("skillsNone")],
        [t("language"), r.language],
        [t("version"), `${r.rules_version} · ${t("routingVersion", { v: state.current.routing_version })}`, "mono"],
      ]
    : []);
  $("explanation").replaceChildren(...((r && r.explanation) || []).map((line) => el("li", { text: line })));
}

export async function act(path, body, success) {
  const conv = state.current;
  if (!conv) return;
  const line = $("action-message");
  line.classList.remove("error");
  line.textContent = "";
  try {
    await api("POST", `/api/v1/conversations/${encodeURIComponent(conv.id)}/${path}`, body);
    line.textContent = success;
  } catch (err) {
    line.textContent = err.message;
    line.classList.add("error");
  }
  await loadConversation(conv.id, false);
  if (state.principal.role === "agent") refreshMe();
  else refreshOps(false);
}
