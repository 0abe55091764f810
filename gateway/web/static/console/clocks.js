/* The clocks: reply-by countdowns and the messaging window, ticking every second. */
import { renderComposer } from "./composer.js";
import { $, show } from "./dom.js";
import { channelName, duration, t, when } from "./i18n.js";
import { state } from "./state.js";

export function windowClosed(conv) {
  if (!conv || !conv.window_expires_at) return state.windowClosedByServer;
  return state.windowClosedByServer || new Date(conv.window_expires_at).getTime() <= Date.now();
}

export function tick() {
  const now = Date.now();
  for (const node of document.querySelectorAll(".due[data-reply-by]")) {
    const rb = node.dataset.replyBy;
    if (!rb) {
      node.textContent = "";
      node.classList.remove("overdue");
      continue;
    }
    const left = new Date(rb).getTime() - now;
    node.textContent = left >= 0 ? duration(left) : `-${duration(left)}`;
    node.classList.toggle("overdue", left < 0);
    node.title = left >= 0 ? t("replyWithin", { d: duration(left) }) : t("replyOverdue", { d: duration(left) });
  }
  const conv = state.current;
  if (!conv) return;
  const countdown = $("countdown");
  const rb = conv.reply_tracking && conv.reply_tracking.reply_by;
  if (!rb) {
    countdown.textContent = t("noReplyDue");
    countdown.className = "countdown none";
    countdown.removeAttribute("title");
  } else {
    const left = new Date(rb).getTime() - now;
    countdown.textContent = left >= 0 ? t("replyWithin", { d: duration(left) }) : t("replyOverdue", { d: duration(left) });
    const warning = left >= 0 && conv.reply_tracking.state === "warning";
    countdown.className = `countdown ${left < 0 ? "overdue" : warning ? "warning" : "ok"}`;
    countdown.title = when(rb);
  }
  const win = $("window");
  if (conv.window_expires_at) {
    const left = new Date(conv.window_expires_at).getTime() - now;
    const channel = channelName(conv.channel);
    win.textContent = left > 0 ? t("windowClosesIn", { channel, d: duration(left) }) : t("windowClosedShort", { channel });
    win.className = `window ${left > 0 ? "open" : "closed"}`;
    show(win, true);
    if (left <= 0 && !$("window-closed").dataset.shown && state.mode === "reply") renderComposer();
  } else {
    show(win, false);
  }
}
