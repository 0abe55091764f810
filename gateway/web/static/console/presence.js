/* Presence: the agent's own status (online / away / offline) in the top bar, kept by
 * POST /api/v1/agents/me/presence; away or offline takes no new work ("Take next" is
 * refused) and customers see nobody online unless a colleague is.
 */
import { api } from "./api.js";
import { $, el, show } from "./dom.js";
import { on } from "./hooks.js";
import { t } from "./i18n.js";
import { state } from "./state.js";
import { addStrings } from "./strings.js";

addStrings({
  en: { presenceLabel: "My status", presence_online: "Online", presence_away: "Away", presence_offline: "Offline", presenceNotOnline: "You are away: set yourself online to take the next one." },
  zh: { presenceLabel: "我的状态", presence_online: "在线", presence_away: "离开", presence_offline: "离线", presenceNotOnline: "你当前不在线：请先把状态设为在线再接入。" },
});

const STATUSES = ["online", "away", "offline"];

function build() {
  if ($("presence")) return;
  const wrap = el(
    "span",
    { id: "presence-wrap", className: "presence-wrap" },
    el("label", { for: "presence", id: "presence-label", className: "visually-hidden" }),
    el("select", { id: "presence", onchange: (event) => choose(event.target.value) }),
  );
  $("lang-toggle").before(wrap);
  render();
}

function render() {
  if (!$("presence")) return;
  $("presence-label").textContent = t("presenceLabel");
  const select = $("presence");
  const value = select.value || "online";
  select.replaceChildren(...STATUSES.map((s) => el("option", { value: s, text: t(`presence_${s}`) })));
  select.value = value;
  select.dataset.status = value;
}

async function choose(status) {
  try {
    const answer = await api("POST", "/api/v1/agents/me/presence", { status });
    $("presence").value = answer.chosen;
    $("presence").dataset.status = answer.chosen;
  } catch (err) {
    return;
  }
}

async function load() {
  try {
    const me = await api("GET", "/api/v1/agents/me");
    const chosen = (me.presence && me.presence.chosen) || "online";
    $("presence").value = chosen;
    $("presence").dataset.status = chosen;
  } catch (err) {
    return;
  }
}

on("workspace", () => {
  const agent = state.principal && state.principal.role === "agent";
  if (agent) build();
  if ($("presence-wrap")) show($("presence-wrap"), agent);
  if (agent) load();
});
on("language", render);
