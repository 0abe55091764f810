/* Words, durations and times in the chosen language. */
import { state } from "./state.js";
import { STRINGS } from "./strings.js";

export function t(key, vars) {
  let text = (STRINGS[state.lang] && STRINGS[state.lang][key]) || STRINGS.en[key] || key;
  for (const [name, value] of Object.entries(vars || {})) text = text.split(`{${name}}`).join(String(value));
  return text;
}

export const pad = (n) => String(n).padStart(2, "0");

export function duration(ms) {
  // Time left counts down (floor); time overdue counts up from the first second (ceil).
  const total = Math.max(0, ms < 0 ? Math.ceil(-ms / 1000) : Math.floor(ms / 1000));
  const d = Math.floor(total / 86400), h = Math.floor((total % 86400) / 3600);
  const m = Math.floor((total % 3600) / 60), s = total % 60;
  if (d > 0) return t("dur_d", { d, h });
  if (h > 0) return t("dur_h", { h, m: pad(m) });
  if (m > 0) return t("dur_m", { m, s: pad(s) });
  return t("dur_s", { s });
}

export function locale() {
  return state.lang === "zh" ? "zh-CN" : "en-GB";
}

export function when(iso) {
  if (!iso) return t("none");
  const date = new Date(iso);
  const sameDay = date.toDateString() === new Date().toDateString();
  const options = sameDay
    ? { hour: "2-digit", minute: "2-digit" }
    : { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" };
  return new Intl.DateTimeFormat(locale(), options).format(date);
}

export const channelName = (channel) => t(`ch_${channel}`);
