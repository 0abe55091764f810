/* The agent and ops console: plain JavaScript modules against /api/v1, live over /api/v1/events/ws.
 *
 * Everything the page shows is fetched from the API; events from the socket only say
 * "this changed", and the page reloads what they concern. Text from customers and agents
 * is only ever set with textContent, never parsed as HTML.
 *
 * This module starts the page and wires its controls. A view in a module of its own
 * (imported here) brings its strings with addStrings (strings.js) and follows the page
 * through hooks.js: "workspace" (signed in), "signout", "language", "refresh" and
 * "event" (a live-feed frame).
 */
import { refreshMe, takeNext } from "./agent.js";
import "./case-stats.js"; // the cases view (cases.js) with its statistics for ops
import "./reports.js"; // the reports view for ops: team charts, agents, surveys
import { tick } from "./clocks.js";
import { sendReply, sendTemplate, setMode } from "./composer.js";
import { act, closeConversation } from "./conversation.js";
import { $ } from "./dom.js";
import "./inbox.js";
import "./verification.js"; // the contact's verification state and "Send code" in the pane
import "./knowledge.js";
import "./typing.js";
import "./presence.js";
import "./alerts.js";
import { t } from "./i18n.js";
import { applyLanguage, toggleLanguage } from "./language.js";
import { refreshOps } from "./ops.js";
import { installSendKey } from "./send-key.js";
import { showSignIn, signIn, signOut } from "./session.js";
import { simulate } from "./simulate.js";
import { LANG_KEY, REFRESH_MS, TOKEN_KEY, state } from "./state.js";

function start() {
  const saved = localStorage.getItem(LANG_KEY);
  const browser = (navigator.languages && navigator.languages[0]) || navigator.language || "en";
  state.lang = saved === "zh" || saved === "en" ? saved : browser.toLowerCase().startsWith("zh") ? "zh" : "en";
  applyLanguage();
  $("lang-toggle").addEventListener("click", toggleLanguage);
  $("sign-out").addEventListener("click", () => signOut(null));
  $("signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = $("token").value.trim();
    if (token) signIn(token);
  });
  $("take-next").addEventListener("click", takeNext);
  $("sim-form").addEventListener("submit", simulate);
  $("back").addEventListener("click", closeConversation);
  $("mode-reply").addEventListener("click", () => setMode("reply"));
  $("mode-note").addEventListener("click", () => setMode("note"));
  $("reply-form").addEventListener("submit", sendReply);
  $("template-form").addEventListener("submit", sendTemplate);
  installSendKey();
  $("pending").addEventListener("click", () => act("pending", undefined, t("pendingMsg")));
  $("resolve").addEventListener("click", () => act("resolve", undefined, t("resolvedMsg")));
  $("transfer").addEventListener("click", () => {
    const queue = $("transfer-queue").value;
    if (queue) act("transfer", { queue }, t("transferred", { queue }));
  });
  setInterval(tick, 1000);
  setInterval(() => {
    if (!state.principal) return;
    if (state.principal.role === "agent") refreshMe();
    else refreshOps(false);
  }, REFRESH_MS);
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) signIn(token);
  else showSignIn(null);
}

document.addEventListener("DOMContentLoaded", start);
