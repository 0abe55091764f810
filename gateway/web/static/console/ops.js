/* The ops view: queue health, reply tracking and the rules in force. */
import { api } from "./api.js";
import { tick } from "./clocks.js";
import { renderTransferQueues } from "./conversation.js";
import { conversationItem } from "./conversation-row.js";
import { $, el, facts, setText } from "./dom.js";
import { duration, t, when } from "./i18n.js";
import { agentName, state } from "./state.js";

export async function refreshOps(withRules) {
  try {
    const [queues, overdue, due] = await Promise.all([
      api("GET", "/api/v1/queues"),
      api("GET", "/api/v1/reply-tracking?state=overdue"),
      api("GET", "/api/v1/reply-tracking?state=due_soon"),
    ]);
    state.ops.queues = queues;
    state.ops.overdue = overdue.conversations;
    state.ops.due = due.conversations;
    state.ops.summary = overdue.summary;
    if (withRules || !state.ops.rules || state.ops.rules.version !== queues.rules_version) {
      state.ops.rules = await api("GET", "/api/v1/routing/rules");
    }
  } catch (err) {
    return;
  }
  renderOps();
  renderTransferQueues();
  if (await learnContactNames([...state.ops.overdue, ...state.ops.due])) renderOps();
}

export async function learnContactNames(conversations) {
  const missing = [...new Set(conversations.map((c) => c.contact_id))].filter((id) => !state.contactNames.has(id));
  const found = await Promise.all(
    missing.slice(0, 50).map((id) => api("GET", `/api/v1/contacts/${encodeURIComponent(id)}`).catch(() => null)),
  );
  for (const contact of found) if (contact) state.contactNames.set(contact.id, contact.name || "");
  return found.some(Boolean);
}

export function renderOps() {
  const ops = state.ops;
  if (!ops.queues) return;
  const body = $("queue-table").querySelector("tbody");
  body.replaceChildren(
    ...ops.queues.queues.map((q) =>
      el(
        "tr",
        { className: q.depth > 0 ? "busy" : "", dataset: { queue: q.name } },
        el("th", { scope: "row", text: q.name }),
        el("td", { className: "num depth-cell", text: String(q.depth) }),
        el("td", {
          className: "num",
          text: q.oldest_wait_seconds != null ? duration(q.oldest_wait_seconds * 1000) : t("none"),
        }),
        el("td", { className: "agents-cell" }, q.agents.length ? q.agents.map((a) => agentStatus(a)) : t("none")),
        el("td", { className: "muted", text: q.skills.join(", ") || t("none") }),
      ),
    ),
  );
  renderRisk("overdue-list", "overdue-count", ops.overdue);
  renderRisk("due-list", "due-count", ops.due);
  const s = ops.summary || {};
  const parts = [];
  if (s.sla_attainment != null) parts.push(t("sla", { v: `${Math.round(s.sla_attainment * 1000) / 10}%` }));
  parts.push(t("breaches", { n: s.breaches || 0 }), t("warnings", { n: s.warnings || 0 }));
  if (s.first_response_seconds_avg != null) parts.push(t("firstResponse", { d: duration(s.first_response_seconds_avg * 1000) }));
  if (s.asa_seconds != null) parts.push(t("asa", { d: duration(s.asa_seconds * 1000) }));
  setText("risk-summary", parts.join(" · "));
  renderRules();
  tick();
}

export function renderRisk(listId, countId, conversations) {
  const list = $(listId);
  setText(countId, String((conversations || []).length));
  if (!conversations || !conversations.length) {
    list.replaceChildren(el("li", { className: "muted", text: t("nothingHere") }));
    return;
  }
  list.replaceChildren(
    ...conversations.map((c) => conversationItem(c, state.contactNames.get(c.contact_id) || c.subject || null, null)),
  );
}

export function renderRules() {
  const rules = state.ops.rules;
  if (!rules) return;
  facts($("rules-facts"), [
    [t("version"), rules.version, "rules-version mono"],
    [t("loadedAt"), rules.loaded_at ? when(rules.loaded_at) : null],
    [t("loadedBy"), rules.loaded_by],
    [t("ruleCount"), rules.rules],
    [t("queues"), (rules.queues || []).join(", ")],
  ]);
  $("rules-warnings").replaceChildren(...(rules.warnings || []).map((w) => el("li", { text: w })));
  $("rules-yaml").textContent = rules.yaml || "";
}

// An agent with their presence (online / away / offline), as /api/v1/queues reports it.
function agentStatus(agent) {
  const all = (state.ops.queues && state.ops.queues.agents) || [];
  const found = all.find((a) => a.agent === agent);
  const status = found ? found.status : "offline";
  return el("span", { className: `agent-status ${status}`, dataset: { agent, status }, title: t(`presence_${status}`) }, agentName(agent));
}
