/* Not missing anything: the number of conversations with unread customer messages in the
 * tab's title, and, when the agent turns them on (remembered by the browser), a short
 * sound and a browser notification for a customer message that arrives while its
 * conversation is not the one on screen or the tab is in the background.
 */
import { $, el } from "./dom.js";
import { on } from "./hooks.js";
import { t } from "./i18n.js";
import { state } from "./state.js";
import { addStrings } from "./strings.js";

const SOUND_KEY = "gateway.console.sound";
const NOTIFY_KEY = "gateway.console.notify";

addStrings({
  en: { alerts: "Alerts", alertSound: "Sound", alertNotify: "Browser notifications", alertTitle: "New customer message" },
  zh: { alerts: "提醒", alertSound: "声音", alertNotify: "浏览器通知", alertTitle: "新的客户消息" },
});

function title() {
  const n = state.principal ? state.unread.size : 0;
  const base = t("title");
  const wanted = n > 0 ? `(${n}) ${base}` : base;
  if (document.title !== wanted) document.title = wanted;
}

function beep() {
  const Context = window.AudioContext || window.webkitAudioContext;
  if (!Context) return;
  try {
    const ctx = new Context();
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.frequency.value = 880;
    gain.gain.value = 0.08;
    osc.connect(gain).connect(ctx.destination);
    osc.start();
    osc.stop(ctx.currentTime + 0.15);
    osc.onended = () => ctx.close();
  } catch (err) {
    // no sound is no harm
  }
}

function notify(frame) {
  if (!("Notification" in window) || Notification.permission !== "granted") return;
  const message = frame.data && frame.data.message;
  const body = (message && (message.text || message.subject)) || "";
  try {
    const note = new Notification(t("alertTitle"), { body: body.slice(0, 140), tag: frame.conversation_id });
    note.onclick = () => window.focus();
  } catch (err) {
    // a browser that refuses notifications from this page
  }
}

function build() {
  if ($("alerts")) return;
  const box = (id, key, label, onchange) =>
    el(
      "label",
      { className: "alert-setting" },
      el("input", { id, type: "checkbox", checked: localStorage.getItem(key) === "1", onchange }),
      el("span", { dataset: { alertLabel: label } }),
    );
  const menu = el(
    "details",
    { id: "alerts", className: "alerts" },
    el("summary", { id: "alerts-summary" }),
    el(
      "div",
      { className: "alerts-menu" },
      box("alert-sound", SOUND_KEY, "alertSound", (e) => localStorage.setItem(SOUND_KEY, e.target.checked ? "1" : "0")),
      box("alert-notify", NOTIFY_KEY, "alertNotify", async (e) => {
        let on = e.target.checked;
        if (on && "Notification" in window && Notification.permission !== "granted") {
          on = (await Notification.requestPermission()) === "granted";
          e.target.checked = on;
        }
        localStorage.setItem(NOTIFY_KEY, on ? "1" : "0");
      }),
    ),
  );
  $("lang-toggle").before(menu);
  render();
}

function render() {
  if (!$("alerts")) return;
  $("alerts-summary").textContent = t("alerts");
  for (const node of document.querySelectorAll("[data-alert-label]")) node.textContent = t(node.dataset.alertLabel);
  title();
}

on("event", (frame) => {
  if (frame.event === "message.inbound") {
    const onScreen = state.current && state.current.id === frame.conversation_id && !document.hidden;
    if (!onScreen) {
      if (localStorage.getItem(SOUND_KEY) === "1") beep();
      if (localStorage.getItem(NOTIFY_KEY) === "1") notify(frame);
    }
  }
  title();
});
on("workspace", build);
on("language", render);
on("signout", title);
setInterval(title, 1000); // opening a conversation reads its messages
