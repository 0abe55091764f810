/* The agent's side: their queues, what they hold, and taking the next conversation. */
import { api } from "./api.js";
import { tick } from "./clocks.js";
import { openConversation, renderTransferQueues } from "./conversation.js";
import { conversationItem } from "./conversation-row.js";
import { $, el, setText, show } from "./dom.js";
import { duration, t } from "./i18n.js";
import { state } from "./state.js";

export async function refreshMe() {
  try {
    state.me = await api("GET", "/api/v1/agents/me");
  } catch (err) {
    return;
  }
  renderMe();
  renderTransferQueues();
}

export function renderMe() {
  const me = state.me;
  if (!me) return;
  const list = $("queue-list");
  list.replaceChildren();
  if (!me.queues.length) list.append(el("li", { className: "muted", text: t("noQueues") }));
  for (const q of me.queues) {
    list.append(
      el(
        "li",
        { className: q.depth > 0 ? "queue busy" : "queue", dataset: { queue: q.name } },
        el("span", { className: "queue-name", text: q.name }),
        el("span", { className: "depth", text: String(q.depth), "aria-label": t("waitingCount", { n: q.depth }) }),
        q.oldest_wait_seconds != null
          ? el("span", { className: "muted small", text: t("oldest", { d: duration(q.oldest_wait_seconds * 1000) }) })
          : null,
      ),
    );
  }
  setText("load", me.capacity ? t("loadOf", { n: me.active, cap: me.capacity }) : t("loadN", { n: me.active }));
  const mine = $("my-list");
  mine.replaceChildren(...me.conversations.map((c) => conversationItem(c, c.contact_name, c.last_message)));
  show($("my-empty"), me.conversations.length === 0);
  tick();
}

export async function takeNext() {
  const note = $("next-message");
  note.textContent = "";
  note.classList.remove("error");
  const button = $("take-next");
  button.disabled = true;
  try {
    const conv = await api("POST", "/api/v1/agents/me/next");
    if (!conv) note.textContent = t("nothingWaiting");
    else await openConversation(conv.id);
    await refreshMe();
  } catch (err) {
    note.textContent = err.code === "capacity" ? t("atCapacity") : err.code === "not_online" ? t("presenceNotOnline") : err.message;
    note.classList.add("error");
  } finally {
    button.disabled = false;
  }
}
