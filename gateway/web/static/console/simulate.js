/* Try a message: the routing decision for a made-up message. */
import { api } from "./api.js";
import { $, el, facts, show } from "./dom.js";
import { channelName, t } from "./i18n.js";
import { CHANNELS } from "./state.js";

export function renderSimChannels() {
  const select = $("sim-channel");
  const chosen = select.value || "sms";
  select.replaceChildren(...CHANNELS.map((c) => el("option", { value: c, text: channelName(c) })));
  select.value = chosen;
}

export function parseAttributes(text) {
  const out = {};
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line) continue;
    const at = line.indexOf("=");
    const key = (at < 0 ? line : line.slice(0, at)).trim();
    const value = at < 0 ? "true" : line.slice(at + 1).trim();
    if (!key) continue;
    if (key in out) out[key] = [].concat(out[key], value);
    else out[key] = value;
  }
  return out;
}

export async function simulate(event) {
  event.preventDefault();
  const error = $("sim-error");
  show(error, false);
  const subject = $("sim-subject").value.trim();
  const body = {
    channel: $("sim-channel").value,
    text: $("sim-text").value,
    attributes: parseAttributes($("sim-attrs").value),
  };
  if (subject) body.subject = subject;
  let decision;
  try {
    decision = await api("POST", "/api/v1/routing/simulate", body);
  } catch (err) {
    error.textContent = err.message;
    show(error, true);
    return;
  }
  const result = $("sim-result");
  facts(result.querySelector("dl"), [
    [t("queue"), decision.queue, "sim-queue strong"],
    [t("rule"), decision.rule || t("noRule"), "sim-rule"],
    [t("priority"), decision.priority],
    [t("skills"), (decision.skills || []).join(", ") || t("skillsNone")],
    [t("language"), decision.language],
    [t("target"), (decision.targets || []).map((x) => x.queue).join(" → ")],
    [t("version"), decision.rules_version, "mono"],
  ]);
  result.querySelector("ol").replaceChildren(...(decision.explanation || []).map((line) => el("li", { text: line })));
  show(result, true);
}
