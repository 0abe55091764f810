/* Typing indicators in the console: the customer's (a conversation.typing event from the
 * live feed, sent while they type in the web chat widget) shown under the history, and
 * the agent's own typing passed on to a web chat customer (POST …/typing, at most every
 * few seconds while the reply box changes).
 */
import { api } from "./api.js";
import { $, el, show } from "./dom.js";
import { on } from "./hooks.js";
import { t } from "./i18n.js";
import { state } from "./state.js";
import { addStrings } from "./strings.js";

const SHOW_MS = 6000; // the widget repeats its signal every 2–3 s while the customer types
const SEND_EVERY_MS = 3000;

addStrings({
  en: { customerTyping: "{name} is typing…" },
  zh: { customerTyping: "{name}正在输入…" },
});

let hideTimer = null;
let sentAt = 0;
let sentFor = null;

function indicator() {
  let node = $("typing-indicator");
  if (!node) {
    node = el("p", { id: "typing-indicator", className: "typing-indicator", role: "status", hidden: true });
    $("messages").after(node);
  }
  return node;
}

function hide() {
  clearTimeout(hideTimer);
  if ($("typing-indicator")) show($("typing-indicator"), false);
}

on("event", (frame) => {
  const current = state.current;
  if (!current || frame.conversation_id !== current.id) return;
  if (frame.event === "message.inbound") {
    hide();
    return;
  }
  if (frame.event !== "conversation.typing" || !frame.data || frame.data.by !== "customer") return;
  const node = indicator();
  const name = (state.contact && state.contact.name) || t("customer");
  node.textContent = t("customerTyping", { name });
  show(node, true);
  clearTimeout(hideTimer);
  hideTimer = setTimeout(hide, SHOW_MS);
});

function onInput() {
  const conv = state.current;
  if (!conv || conv.channel !== "webchat" || state.mode !== "reply" || conv.status === "resolved") return;
  if (!$("reply-text").value.trim()) return;
  const now = Date.now();
  if (sentFor === conv.id && now - sentAt < SEND_EVERY_MS) return;
  sentAt = now;
  sentFor = conv.id;
  api("POST", `/api/v1/conversations/${encodeURIComponent(conv.id)}/typing`).catch(() => null); // a lost signal costs nothing
}

on("workspace", () => {
  const box = $("reply-text");
  if (!box.dataset.typingWired) {
    box.dataset.typingWired = "1";
    box.addEventListener("input", onInput);
  }
});
on("signout", hide);
