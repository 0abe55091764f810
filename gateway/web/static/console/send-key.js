/* The send shortcut, the same rule as the web chat widget's (widget.js, data-send-key):
 * Enter sends and Shift+Enter is a new line, or, set so, only Ctrl+Enter (⌘+Enter on a
 * Mac) sends and Enter is a new line. An Enter that confirms an input method's candidate
 * (拼音) never sends. The choice is a preference of this browser, shown under the box.
 */
import { $, el } from "./dom.js";
import { on } from "./hooks.js";
import { t } from "./i18n.js";
import { addStrings } from "./strings.js";

const KEY = "gateway.console.sendKey"; // localStorage: "enter" (default) or "ctrl-enter"
const MAC = /Mac|iPhone|iPad/.test(navigator.platform || "");

addStrings({
  en: {
    sendKeyEnter: "Enter sends · Shift+Enter: new line", sendKeyCtrl: "{mod}+Enter sends · Enter: new line",
    sendKeySetting: "Send with {mod}+Enter",
  },
  zh: {
    sendKeyEnter: "Enter 发送 · Shift+Enter 换行", sendKeyCtrl: "{mod}+Enter 发送 · Enter 换行",
    sendKeySetting: "使用 {mod}+Enter 发送",
  },
});

export function sendKey() {
  return localStorage.getItem(KEY) === "ctrl-enter" ? "ctrl-enter" : "enter";
}

export function sends(event, mode) {
  if (event.key !== "Enter" || event.isComposing || event.keyCode === 229) return false;
  const mod = event.ctrlKey || event.metaKey;
  return mode === "ctrl-enter" ? mod : !event.shiftKey && !event.altKey;
}

const mod = () => (MAC ? "⌘" : "Ctrl");

function render() {
  const hint = $("send-key-hint");
  if (!hint) return;
  const mode = sendKey();
  hint.textContent = mode === "enter" ? t("sendKeyEnter") : t("sendKeyCtrl", { mod: mod() });
  $("send-key-ctrl").checked = mode === "ctrl-enter";
  $("send-key-label").textContent = t("sendKeySetting", { mod: mod() });
}

export function installSendKey() {
  const form = $("reply-form");
  form.after(
    el(
      "div",
      { className: "send-key" },
      el("span", { id: "send-key-hint", className: "hint" }),
      el(
        "label",
        { className: "send-key-setting" },
        el("input", {
          id: "send-key-ctrl",
          type: "checkbox",
          onchange: (event) => {
            localStorage.setItem(KEY, event.target.checked ? "ctrl-enter" : "enter");
            render();
          },
        }),
        el("span", { id: "send-key-label" }),
      ),
    ),
  );
  $("reply-text").addEventListener("keydown", (event) => {
    if (!sends(event, sendKey())) return;
    event.preventDefault();
    if (!$("send").disabled) form.requestSubmit();
  });
  render();
}

on("language", render);
