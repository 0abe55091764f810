/* Switching the page between English and Chinese. */
import { renderMe } from "./agent.js";
import { renderComposer } from "./composer.js";
import { renderPane } from "./conversation.js";
import { $ } from "./dom.js";
import { emit } from "./hooks.js";
import { t } from "./i18n.js";
import { renderLive } from "./live.js";
import { renderOps } from "./ops.js";
import { renderWho } from "./session.js";
import { renderSimChannels } from "./simulate.js";
import { LANG_KEY, state } from "./state.js";

export function applyLanguage() {
  document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
  document.title = t("title");
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  const toggle = $("lang-toggle");
  toggle.textContent = state.lang === "zh" ? "English" : "中文";
  toggle.setAttribute("lang", state.lang === "zh" ? "en" : "zh-CN");
  toggle.setAttribute("aria-label", state.lang === "zh" ? "Switch to English" : "切换到中文");
  $("sim-attrs").placeholder = "contact.tier=vip";
  renderWho();
  renderLive();
  renderSimChannels();
  if (state.me) renderMe();
  if (state.principal && state.principal.role === "ops") renderOps();
  if (state.current) renderPane();
  renderComposer();
  emit("language");
}

export function toggleLanguage() {
  state.lang = state.lang === "zh" ? "en" : "zh";
  localStorage.setItem(LANG_KEY, state.lang);
  applyLanguage();
}
