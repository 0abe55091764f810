/* Canned replies from the knowledge base (GET /api/v1/knowledge, the FAQ counts): searched
 * from the reply box, inserted into it for editing — never sent as they are.
 * The panel is built here and placed above the reply box.
 */
import { api } from "./api.js";
import { $, el, show } from "./dom.js";
import { on } from "./hooks.js";
import { t } from "./i18n.js";
import { schedule } from "./session.js";
import { state } from "./state.js";
import { addStrings } from "./strings.js";

addStrings({
  en: {
    cannedReplies: "Canned replies", cannedSearch: "Search canned replies", cannedPlaceholder: "Words of a title, tag or text…",
    cannedInsert: "Insert", cannedNone: "No canned reply matches.", cannedFaq: "FAQ", cannedInserted: "Inserted; edit it, then send.",
  },
  zh: {
    cannedReplies: "常用回复", cannedSearch: "搜索常用回复", cannedPlaceholder: "标题、标签或内容中的词…",
    cannedInsert: "插入", cannedNone: "没有匹配的常用回复。", cannedFaq: "常见问题", cannedInserted: "已插入，可编辑后发送。",
  },
});

let seq = 0;

function language() {
  const routing = state.current && state.current.routing;
  return routing && routing.language ? routing.language : "";
}

function build() {
  if ($("canned")) return;
  const toggle = el("button", {
    id: "canned-toggle", type: "button", className: "mode canned-toggle", "aria-expanded": "false", "aria-controls": "canned",
    onclick: () => setOpen($("canned").hidden),
  });
  $("mode-note").after(toggle);
  const panel = el(
    "section",
    { id: "canned", className: "canned", hidden: true, "aria-labelledby": "canned-toggle" },
    el("label", { for: "canned-q", className: "visually-hidden", id: "canned-label" }),
    el("input", {
      id: "canned-q", type: "search", autocomplete: "off", maxlength: "200",
      oninput: () => schedule("canned", search, 250),
      onkeydown: (event) => {
        if (event.key === "Escape") setOpen(false);
        if (event.key === "Enter") {
          event.preventDefault();
          const first = $("canned-list").querySelector("button.insert");
          if (first) first.click();
        }
      },
    }),
    el("ul", { id: "canned-list", className: "canned-list" }),
    el("p", { id: "canned-note", className: "muted small", role: "status" }),
  );
  $("reply-form").before(panel);
  render();
}

function setOpen(open) {
  show($("canned"), open);
  $("canned-toggle").setAttribute("aria-expanded", String(open));
  if (open) {
    $("canned-q").focus();
    search();
  }
}

async function search() {
  const mine = ++seq;
  const params = new URLSearchParams({ q: $("canned-q").value.trim() });
  if (language()) params.set("language", language());
  let found;
  try {
    found = await api("GET", `/api/v1/knowledge?${params}`);
  } catch (err) {
    if (mine === seq) $("canned-note").textContent = err.message;
    return;
  }
  if (mine !== seq) return;
  const list = $("canned-list");
  list.replaceChildren(
    ...found.articles.map((a) =>
      el(
        "li",
        { className: "canned-item", dataset: { id: a.id } },
        el(
          "div",
          { className: "canned-head" },
          el("strong", { text: a.title }),
          a.source === "faq" ? el("span", { className: "badge", text: t("cannedFaq") }) : null,
          el("button", { type: "button", className: "insert", text: t("cannedInsert"), onclick: () => insert(a.body) }),
        ),
        el("p", { className: "canned-body", text: a.body }),
      ),
    ),
  );
  $("canned-note").textContent = found.articles.length ? "" : t("cannedNone");
}

// Into the box at the cursor (replacing a selection), for the agent to edit and send.
function insert(text) {
  const box = $("reply-text");
  const start = box.selectionStart ?? box.value.length;
  const end = box.selectionEnd ?? box.value.length;
  box.value = box.value.slice(0, start) + text.trim() + box.value.slice(end);
  const caret = start + text.trim().length;
  setOpen(false);
  box.focus();
  box.setSelectionRange(caret, caret);
  $("composer-error").hidden = true;
  $("canned-note").textContent = t("cannedInserted");
}

function render() {
  if (!$("canned")) return;
  $("canned-toggle").textContent = t("cannedReplies");
  $("canned-label").textContent = t("cannedSearch");
  $("canned-q").placeholder = t("cannedPlaceholder");
}

on("workspace", build);
on("language", () => {
  render();
  if ($("canned") && !$("canned").hidden) search();
});
