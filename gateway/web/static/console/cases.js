/* The case views: the list (overdue first, as the API orders it), a case's detail with its
 * timeline and the steps an agent takes — progress, extend, add a merchant, resolve — and
 * "Open a case" on the conversation pane. Ops also get the statistics (case-stats.js).
 *
 * Everything is read from /api/v1/cases; case.* events from the live feed reload the list
 * and the case shown. Notes and summaries are set with textContent only.
 */
import { api } from "./api.js";
import { caseStrings, entryText, stageName } from "./case-text.js";
import { openConversation } from "./conversation.js";
import { $, badge, el, facts, show } from "./dom.js";
import { on } from "./hooks.js";
import { duration, t, when } from "./i18n.js";
import { schedule } from "./session.js";
import { state } from "./state.js";
import { addStrings } from "./strings.js";
import { registerView, showView, activeView } from "./views.js";

addStrings(caseStrings);

const OPEN = ["received", "investigating", "waiting_third_party"];
const TEAM_ONLY = ["note", "party_reply"];
const cases = { workflow: null, list: [], current: null, form: "progress" };

function field(label, input) {
  const id = input.id;
  return [el("label", { for: id, text: t(label), dataset: { i18n: label } }), input];
}

function buildSection() {
  const stageFilter = el("select", { id: "case-filter-stage", onchange: loadList });
  const categoryFilter = el("select", { id: "case-filter-category", onchange: loadList });
  const overdueOnly = el("input", { id: "case-filter-overdue", type: "checkbox", onchange: loadList });
  const forms = el("div", { id: "case-forms" });
  return el(
    "section",
    { id: "cases-view", className: "cases-view", "aria-labelledby": "cases-title" },
    el(
      "div",
      { className: "case-side" },
      el(
        "section",
        { className: "card" },
        el("h2", { id: "cases-title", text: t("cases"), dataset: { i18n: "cases" } }),
        el(
          "div",
          { className: "case-filters" },
          el("span", {}, ...field("caseStage", stageFilter)),
          el("span", {}, ...field("caseCategory", categoryFilter)),
          el(
            "label",
            { className: "check", for: "case-filter-overdue" },
            overdueOnly,
            el("span", { text: t("overdueOnly"), dataset: { i18n: "overdueOnly" } }),
          ),
        ),
        el("ul", { id: "case-list", className: "conv-list case-list" }),
      ),
    ),
    el(
      "article",
      { id: "case-detail", className: "case-detail card", "aria-labelledby": "case-number", hidden: true },
      el("button", { id: "case-back", type: "button", className: "ghost back", text: t("back"), onclick: closeCase }),
      el("div", { className: "conv-title-row" }, el("h2", { id: "case-number" }), el("span", { id: "case-badges", className: "badges" })),
      el("p", { id: "case-summary", className: "case-summary" }),
      el("dl", { id: "case-facts", className: "facts" }),
      el("ul", { id: "case-parties", className: "identities" }),
      el("div", { id: "case-modes", className: "modes", role: "group" }),
      forms,
      el("p", { id: "case-message", className: "note-line", role: "status" }),
      el("h3", { text: t("caseTimeline"), dataset: { i18n: "caseTimeline" } }),
      el("ol", { id: "case-timeline", className: "case-timeline" }),
    ),
  );
}

const section = buildSection();
registerView({ id: "cases", label: "cases", roles: ["agent", "ops"], section, onShow: refreshCases });

async function ensureWorkflow() {
  if (!cases.workflow) cases.workflow = await api("GET", "/api/v1/cases/workflow");
  return cases.workflow;
}

function categoryName(id, names) {
  const name = names || (cases.workflow && cases.workflow.categories[id] && cases.workflow.categories[id].name);
  return name ? name[state.lang] || name.en || id : id;
}

function renderFilters() {
  const wf = cases.workflow;
  if (!wf) return;
  const fill = (select, pairs) => {
    const chosen = select.value;
    select.replaceChildren(el("option", { value: "", text: t("all") }), ...pairs.map(([v, text]) => el("option", { value: v, text })));
    select.value = pairs.some(([v]) => v === chosen) ? chosen : "";
  };
  fill($("case-filter-stage"), Object.keys(wf.stages).map((s) => [s, stageName(wf, s)]));
  fill($("case-filter-category"), Object.keys(wf.categories).map((c) => [c, categoryName(c)]));
}

export async function refreshCases() {
  try {
    await ensureWorkflow();
  } catch (err) {
    $("case-list").replaceChildren(el("li", { className: "muted", text: err.status === 404 ? t("casesOff") : err.message }));
    return;
  }
  renderFilters();
  await loadList();
  if (cases.current) await loadCase(cases.current.number);
}

async function loadList() {
  const params = new URLSearchParams({ limit: "200" });
  if ($("case-filter-stage").value) params.set("stage", $("case-filter-stage").value);
  if ($("case-filter-category").value) params.set("category", $("case-filter-category").value);
  if ($("case-filter-overdue").checked) params.set("overdue", "true");
  try {
    cases.list = (await api("GET", `/api/v1/cases?${params}`)).cases;
  } catch (err) {
    return;
  }
  renderList();
}

function dueText(c) {
  if (!OPEN.includes(c.stage)) return when(c.resolved_at || c.closed_at);
  const left = new Date(c.due_at).getTime() - Date.now();
  return left >= 0 ? t("caseDueIn", { d: duration(left) }) : t("caseOverdueBy", { d: duration(left) });
}

function renderList() {
  const list = $("case-list");
  if (!cases.list.length) {
    list.replaceChildren(el("li", { className: "muted", text: t("noCases") }));
    return;
  }
  list.replaceChildren(
    ...cases.list.map((c) => {
      const current = cases.current && cases.current.number === c.number;
      const overdue = c.deadlines && c.deadlines.overdue;
      return el(
        "li",
        {},
        el(
          "button",
          {
            type: "button",
            className: `conv-item case-item${current ? " current" : ""}${overdue ? " overdue" : ""}`,
            dataset: { number: c.number },
            "aria-current": current ? "true" : null,
            onclick: () => loadCase(c.number),
          },
          el(
            "span",
            { className: "line1" },
            el("span", { className: "name mono", text: c.number }),
            badge(categoryName(c.category, c.category_name), `kind-${c.kind}`),
            badge(stageName(cases.workflow, c.stage), `stage stage-${c.stage}`),
            overdue ? badge(t("caseOverdue"), "overdue") : null,
          ),
          el("span", { className: "line2", text: c.summary }),
          el("span", { className: `due${overdue ? " overdue" : ""}`, text: dueText(c) }),
        ),
      );
    }),
  );
}

async function loadCase(number) {
  let view;
  try {
    view = await api("GET", `/api/v1/cases/${encodeURIComponent(number)}`);
  } catch (err) {
    setMessage(err.message, true);
    return;
  }
  const changed = !cases.current || cases.current.number !== view.number;
  cases.current = view;
  if (changed) setMessage("", false);
  section.classList.add("has-case");
  show($("case-detail"), true);
  renderCase();
  renderList();
  if (changed && window.matchMedia("(max-width: 860px)").matches) window.scrollTo(0, 0); // a phone: the case, from its top
}

function closeCase() {
  cases.current = null;
  section.classList.remove("has-case");
  show($("case-detail"), false);
  renderList();
}

function setMessage(text, error) {
  const line = $("case-message");
  line.textContent = text;
  line.classList.toggle("error", Boolean(error));
}

function renderCase() {
  const c = cases.current;
  if (!c) return;
  const wf = cases.workflow;
  const d = c.deadlines || {};
  $("case-number").textContent = c.number;
  $("case-badges").replaceChildren(
    badge(categoryName(c.category, c.category_name), `kind-${c.kind}`),
    badge(stageName(wf, c.stage), `stage stage-${c.stage}`),
    ...(d.overdue ? [badge(t("caseOverdue"), "overdue")] : []),
  );
  $("case-summary").textContent = c.summary;
  facts($("case-facts"), [
    [t("caseDue"), `${when(c.due_at)} · ${dueText(c)}`, d.overdue ? "overdue-text" : null],
    [t("caseFirstUpdate"), d.first_update_at ? t("caseDoneAt", { when: when(d.first_update_at) }) : when(d.first_update_due_at), d.first_update_overdue ? "overdue-text" : null],
    [t("caseEta"), d.eta ? when(d.eta) : null],
    [t("caseMaxDue"), when(d.max_due_at)],
    [t("caseExtensions"), c.extensions || null],
    [t("caseOpened"), `${when(c.created_at)} · ${c.created_by}`],
    [t("channel"), t(`ch_${c.channel}`)],
    [t("caseResolution"), c.resolution],
  ]);
  const conv = el("button", {
    type: "button",
    className: "link",
    text: t("caseConversation"),
    onclick: () => {
      showView("workspace");
      openConversation(c.conversation_id);
    },
  });
  $("case-parties").replaceChildren(
    el("li", {}, conv),
    ...(c.parties || []).map((p) =>
      el(
        "li",
        { dataset: { party: p.kind } },
        el("span", { className: "muted", text: `${t("caseMerchant")} ` }),
        `${p.name} `,
        el("span", { className: "mono", text: p.email }),
      ),
    ),
  );
  renderForms();
  $("case-timeline").replaceChildren(...[...(c.timeline || [])].reverse().map(timelineItem));
}

function timelineItem(entry) {
  const lines = entryText(entry);
  // Notes and the merchant's replies are the team's words; the system's own entries
  // (deadlines, notices sent) are internal too, but read as bookkeeping.
  const internal = entry.internal && TEAM_ONLY.includes(entry.kind);
  const system = entry.internal && !internal;
  return el(
    "li",
    { className: `case-entry${internal ? " internal" : ""}${system ? " system" : ""}`, dataset: { kind: entry.kind } },
    el(
      "div",
      { className: "msg-head" },
      el("span", { className: "author", text: t(`ce_${entry.kind}`) === `ce_${entry.kind}` ? entry.kind : t(`ce_${entry.kind}`) }),
      el("span", { text: entry.by }),
      el("time", { datetime: entry.at, text: when(entry.at) }),
      internal ? badge(t("caseInternal"), "internal") : null,
      entry.stage ? badge(stageName(cases.workflow, entry.stage), `stage stage-${entry.stage}`) : null,
    ),
    ...lines.map(([cls, text]) => el("p", { className: cls, text })),
  );
}

/* The steps: one form shown at a time, picked by the buttons above it. */
const FORMS = {
  progress: { label: "caseProgress", open: true },
  extend: { label: "caseExtend", open: true },
  parties: { label: "caseAddMerchant", open: true },
  resolve: { label: "caseResolve", open: true },
};

function input(id, attrs) {
  return el(attrs && attrs.tag === "textarea" ? "textarea" : "input", { id, name: id, autocomplete: "off", ...attrs, tag: null });
}

function progressForm(c) {
  const stage = el(
    "select",
    { id: "cp-stage", name: "stage" },
    el("option", { value: "", text: t("caseKeepStage") }),
    ...["investigating", "waiting_third_party", "closed"].filter((s) => s !== c.stage).map((s) => el("option", { value: s, text: stageName(cases.workflow, s) })),
  );
  const internal = el("input", { id: "cp-internal", type: "checkbox", checked: OPEN.includes(c.stage) ? null : true });
  return [
    ...field("caseNote", input("cp-note", { tag: "textarea", rows: 2, required: true })),
    ...field("caseNewStage", stage),
    ...field("caseEtaInput", input("cp-eta", { type: "date" })),
    el("label", { className: "check", for: "cp-internal" }, internal, el("span", { text: t("caseInternalNote") })),
  ];
}

function formFields(kind, c) {
  if (kind === "progress") return progressForm(c);
  if (kind === "extend")
    return [...field("caseUntil", input("ce-until", { type: "date", required: true })), ...field("caseReason", input("ce-reason", { tag: "textarea", rows: 2, required: true }))];
  if (kind === "parties")
    return [...field("caseMerchantName", input("cm-name", { required: true })), ...field("caseMerchantEmail", input("cm-email", { type: "email", required: true }))];
  return field("caseResolutionInput", input("cr-resolution", { tag: "textarea", rows: 2, required: true }));
}

function body(kind) {
  const v = (id) => $(id).value.trim();
  if (kind === "progress") {
    const out = { note: v("cp-note"), internal: $("cp-internal").checked };
    if (v("cp-stage")) out.stage = v("cp-stage");
    if (v("cp-eta")) out.eta = v("cp-eta");
    return out;
  }
  if (kind === "extend") return { until: v("ce-until"), reason: v("ce-reason") };
  if (kind === "parties") return { kind: "merchant", name: v("cm-name"), email: v("cm-email") };
  return { resolution: v("cr-resolution") };
}

let formKey = null;

function renderForms() {
  const c = cases.current;
  const open = OPEN.includes(c.stage);
  const kinds = open ? Object.keys(FORMS) : ["progress"];
  if (!kinds.includes(cases.form)) cases.form = "progress";
  // A live reload of the same case keeps the form as it is: what the agent is typing stays.
  const key = `${c.number}|${c.stage}|${cases.form}|${state.lang}`;
  if (key === formKey) return;
  formKey = key;
  $("case-modes").replaceChildren(
    ...kinds.map((k) =>
      el("button", {
        type: "button",
        className: "mode",
        "aria-pressed": k === cases.form ? "true" : "false",
        text: t(FORMS[k].label),
        onclick: () => {
          cases.form = k;
          renderForms();
        },
      }),
    ),
  );
  const kind = cases.form;
  const form = el(
    "form",
    { id: `case-form-${kind}`, className: "case-form", onsubmit: (event) => submit(event, kind) },
    ...formFields(kind, c),
    el("button", { type: "submit", className: "primary", text: t(`${FORMS[kind].label}Submit`) }),
  );
  $("case-forms").replaceChildren(form);
}

async function submit(event, kind) {
  event.preventDefault();
  const c = cases.current;
  const button = event.target.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    await api("POST", `/api/v1/cases/${encodeURIComponent(c.number)}/${kind}`, body(kind));
    setMessage(t(`caseDone_${kind}`), false);
    event.target.reset();
  } catch (err) {
    setMessage(err.message, true);
  } finally {
    button.disabled = false;
  }
  await loadCase(c.number);
  await loadList();
}

/* "Open a case" on the conversation pane. */
const openButton = el("button", { id: "open-case", type: "button", text: t("openCase"), onclick: toggleOpenForm });
const openForm = el("form", { id: "open-case-form", className: "case-form open-case-form", hidden: true, onsubmit: openCase });
$("pane").querySelector(".actions").append(openButton);
$("pane").querySelector(".actions").after(openForm);

async function toggleOpenForm() {
  if (!openForm.hidden) {
    show(openForm, false);
    return;
  }
  try {
    await ensureWorkflow();
  } catch (err) {
    $("action-message").textContent = err.status === 404 ? t("casesOff") : err.message;
    return;
  }
  const select = el("select", { id: "oc-category", name: "category", required: true }, ...Object.keys(cases.workflow.categories).map((id) => el("option", { value: id, text: categoryName(id) })));
  openForm.replaceChildren(
    ...field("caseCategory", select),
    ...field("caseSummaryInput", input("oc-summary", { tag: "textarea", rows: 2, required: true })),
    el("button", { type: "submit", className: "primary", text: t("openCaseSubmit") }),
  );
  show(openForm, true);
}

async function openCase(event) {
  event.preventDefault();
  const line = $("action-message");
  line.classList.remove("error");
  try {
    const made = await api("POST", "/api/v1/cases", {
      conversation_id: state.current.id,
      category: $("oc-category").value,
      summary: $("oc-summary").value.trim(),
    });
    line.textContent = t("caseOpenedMsg", { number: made.number, due: when(made.due_at) });
    show(openForm, false);
  } catch (err) {
    line.textContent = err.message;
    line.classList.add("error");
  }
}

on("event", (frame) => {
  if (!String(frame.event || "").startsWith("case.") || activeView() !== "cases") return;
  schedule("cases", refreshCases, 250);
});
on("refresh", () => {
  if (activeView() === "cases") refreshCases();
});
on("language", () => {
  for (const node of section.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  $("case-back").textContent = t("back");
  openButton.textContent = t("openCase");
  renderFilters();
  if (cases.list.length) renderList();
  if (cases.current) renderCase();
});
on("signout", () => {
  cases.workflow = null;
  cases.list = [];
  closeCase();
  show(openForm, false);
});
