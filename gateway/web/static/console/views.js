/* The page's views beside the workspace — cases, reports — each a tab in the top bar.
 *
 * A view module calls registerView({id, label, roles, section, onShow}) with its own
 * <section> (appended to <main>); the workspace (conversations, or ops' overview) is the
 * first tab. Showing a view hides the others (hook "view" with its id); signing out goes
 * back to the workspace.
 */
import { $, el, show } from "./dom.js";
import { emit, on } from "./hooks.js";
import { t } from "./i18n.js";
import { state } from "./state.js";
import { addStrings } from "./strings.js";

addStrings({
  en: { viewWorkspaceAgent: "Conversations", viewWorkspaceOps: "Overview", views: "Views" },
  zh: { viewWorkspaceAgent: "会话", viewWorkspaceOps: "概览", views: "视图" },
});

const views = [];
let active = "workspace";
let nav = null;

export function registerView(view) {
  views.push(view);
  view.section.hidden = true;
  $("main").append(view.section);
}

export function activeView() {
  return active;
}

function allowed(view) {
  return Boolean(state.principal) && view.roles.includes(state.principal.role);
}

export function showView(id) {
  const view = views.find((v) => v.id === id);
  active = view && allowed(view) ? id : "workspace";
  show($("workspace"), active === "workspace" && Boolean(state.principal));
  for (const v of views) show(v.section, v.id === active);
  renderTabs();
  const shown = views.find((v) => v.id === active);
  if (shown && shown.onShow) shown.onShow();
  emit("view", active);
}

function ensureNav() {
  if (nav) return nav;
  nav = el("nav", { id: "view-tabs", className: "view-tabs", "aria-label": t("views") });
  $("live").after(nav);
  return nav;
}

export function renderTabs() {
  const bar = ensureNav();
  bar.setAttribute("aria-label", t("views"));
  if (!state.principal) {
    bar.replaceChildren();
    show(bar, false);
    return;
  }
  const ops = state.principal.role === "ops";
  const tabs = [{ id: "workspace", text: t(ops ? "viewWorkspaceOps" : "viewWorkspaceAgent") }];
  for (const v of views) if (allowed(v)) tabs.push({ id: v.id, text: t(v.label) });
  bar.replaceChildren(
    ...tabs.map((tab) =>
      el("button", {
        type: "button",
        className: "view-tab",
        dataset: { view: tab.id },
        "aria-pressed": tab.id === active ? "true" : "false",
        text: tab.text,
        onclick: () => showView(tab.id),
      }),
    ),
  );
  show(bar, true);
}

on("workspace", () => showView(active));
on("signout", () => {
  active = "workspace";
  for (const v of views) show(v.section, false);
  renderTabs();
});
on("language", renderTabs);
