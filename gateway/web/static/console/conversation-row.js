/* One conversation in a list: name, channel, status, unread mark and reply-by clock. */
import { openConversation } from "./conversation.js";
import { badge, el } from "./dom.js";
import { channelName, t } from "./i18n.js";
import { agentName, state } from "./state.js";

export function conversationItem(conv, name, last) {
  const current = state.current && state.current.id === conv.id;
  const rb = conv.reply_tracking && conv.reply_tracking.reply_by;
  const title = name || conv.subject || conv.id.slice(-8);
  const line2 = last ? last.text : [conv.queue, agentName(conv.assignee) || t("unassigned")].filter(Boolean).join(" · ");
  const button = el(
    "button",
    {
      type: "button",
      className: `conv-item${current ? " current" : ""}${state.unread.has(conv.id) ? " unread" : ""}`,
      dataset: { id: conv.id },
      "aria-current": current ? "true" : null,
      onclick: () => openConversation(conv.id),
    },
    el(
      "span",
      { className: "line1" },
      el("span", { className: "name", text: title }),
      badge(channelName(conv.channel), `ch ch-${conv.channel}`),
      conv.status === "pending" ? badge(t("status_pending"), "status-pending") : null,
      state.unread.has(conv.id) ? badge(t("newMessage"), "new") : null,
    ),
    el("span", { className: "line2", text: line2 || "" }),
    el("span", { className: "due", dataset: { replyBy: rb || "" } }),
  );
  return el("li", {}, button);
}
