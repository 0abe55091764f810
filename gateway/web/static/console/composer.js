/* The composer: replies, internal notes, and templates once the window closed. */
import { api } from "./api.js";
import { windowClosed } from "./clocks.js";
import { loadConversation } from "./conversation.js";
import { $, setText, show } from "./dom.js";
import { channelName, t, when } from "./i18n.js";
import { state } from "./state.js";

export function renderComposer() {
  const conv = state.current;
  const ops = state.principal && state.principal.role === "ops";
  if (ops) state.mode = "note";
  show($("mode-reply"), !ops);
  $("mode-reply").setAttribute("aria-pressed", String(state.mode === "reply"));
  $("mode-note").setAttribute("aria-pressed", String(state.mode === "note"));
  const closed = state.mode === "reply" && windowClosed(conv);
  const notice = $("window-closed");
  show(notice, closed);
  notice.dataset.shown = closed ? "1" : "";
  if (closed && conv) {
    const at = conv.window_expires_at ? when(conv.window_expires_at) : "";
    setText("window-closed-text", t("windowClosedText", { channel: channelName(conv.channel), when: at }));
    const lang = $("tpl-language");
    if (!lang.value) lang.value = state.lang === "zh" ? "zh_CN" : "en_US";
  }
  show($("template-form"), closed);
  show($("reply-form"), !closed);
  const text = $("reply-text");
  const channel = conv ? channelName(conv.channel) : "";
  text.placeholder = state.mode === "note" ? (ops ? t("opsNotesOnly") : t("notePlaceholder")) : t("replyPlaceholder", { channel });
  $("send").textContent = state.mode === "note" ? t("addNote") : t("send");
  $("reply-form").classList.toggle("noting", state.mode === "note");
}

export function setMode(mode) {
  state.mode = mode;
  showComposerError(null);
  renderComposer();
  $(windowClosed(state.current) && mode === "reply" ? "tpl-name" : "reply-text").focus();
}

export function showComposerError(message) {
  const error = $("composer-error");
  error.textContent = message || "";
  show(error, Boolean(message));
}

export function explain(err) {
  if (err.code === "channel_cannot_send") return t("cannotSend", { message: err.message });
  return err.message;
}

export async function sendReply(event) {
  event.preventDefault();
  const conv = state.current;
  const box = $("reply-text");
  const text = box.value;
  if (!conv || !text.trim()) return;
  showComposerError(null);
  $("send").disabled = true;
  try {
    await api("POST", `/api/v1/conversations/${encodeURIComponent(conv.id)}/messages`, { text, note: state.mode === "note" });
    box.value = "";
    await loadConversation(conv.id, true);
  } catch (err) {
    if (err.code === "window_closed") {
      state.windowClosedByServer = true;
      renderComposer();
    }
    showComposerError(explain(err));
  } finally {
    $("send").disabled = false;
  }
}

export async function sendTemplate(event) {
  event.preventDefault();
  const conv = state.current;
  const name = $("tpl-name").value.trim();
  if (!conv || !name) return;
  showComposerError(null);
  const template = {
    name,
    language: $("tpl-language").value.trim() || "en_US",
    params: $("tpl-params").value.split("\n").map((p) => p.trim()).filter(Boolean),
  };
  try {
    await api("POST", `/api/v1/conversations/${encodeURIComponent(conv.id)}/messages`, { template });
    $("tpl-name").value = "";
    $("tpl-params").value = "";
    await loadConversation(conv.id, true);
  } catch (err) {
    showComposerError(explain(err));
  }
}
