/* Signing in and out, and reloading everything the workspace shows. */
import { refreshMe } from "./agent.js";
import { api } from "./api.js";
import { refreshPane, updateLayout } from "./conversation.js";
import { $, show } from "./dom.js";
import { emit, on } from "./hooks.js";
import { t } from "./i18n.js";
import { closeSocket, connectSocket } from "./live.js";
import { refreshOps } from "./ops.js";
import { TOKEN_KEY, state } from "./state.js";

export async function whoAmI() {
  const who = await api("GET", "/api/v1/me");
  state.agentNames = who.agent_names || {};
  return { role: who.role, agent: who.agent, name: who.name || who.agent };
}

export async function signIn(token) {
  state.token = token;
  let principal;
  try {
    principal = await whoAmI();
  } catch (err) {
    state.token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    showSignIn(err.status === 401 ? t("tokenInvalid") : err.message);
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  state.principal = principal;
  enterWorkspace();
}

export function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = null;
  state.principal = null;
  state.me = null;
  state.current = null;
  state.ops = { queues: null, overdue: null, due: null, summary: null, rules: null };
  state.unread.clear();
  state.contactNames.clear();
  closeSocket();
  for (const id of Object.keys(state.timers)) clearTimeout(state.timers[id]);
  state.timers = {};
  emit("signout");
  showSignIn(message);
}

export function showSignIn(message) {
  show($("workspace"), false);
  show($("signin"), true);
  show($("sign-out"), false);
  show($("who"), false);
  show($("live"), false);
  const error = $("signin-error");
  error.textContent = message || "";
  show(error, Boolean(message));
  $("token").value = "";
  $("token").focus();
}

export function enterWorkspace() {
  const ops = state.principal.role === "ops";
  show($("signin"), false);
  show($("workspace"), true);
  show($("sign-out"), true);
  show($("agent-side"), !ops);
  show($("ops"), ops);
  $("workspace").classList.toggle("ops-mode", ops);
  state.mode = ops ? "note" : "reply";
  renderWho();
  updateLayout();
  connectSocket();
  refreshAll();
  emit("workspace");
}

export function renderWho() {
  const who = $("who");
  if (!state.principal) return;
  who.textContent = state.principal.role === "ops" ? t("roleOps") : `${state.principal.name} · ${t("agent")}`;
  show(who, true);
}

export function refreshAll() {
  if (!state.principal) return;
  if (state.principal.role === "agent") refreshMe();
  else refreshOps(true);
  if (state.current) refreshPane();
  emit("refresh");
}

export function schedule(key, fn, delay) {
  clearTimeout(state.timers[key]);
  state.timers[key] = setTimeout(() => {
    delete state.timers[key];
    fn();
  }, delay);
}

on("unauthorized", () => signOut(t("tokenRefused")));
