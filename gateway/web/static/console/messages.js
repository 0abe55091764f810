/* The timeline: the contact's messages across conversations, and stored attachments
 * fetched with the token.
 */
import { $, badge, el, safeUrl } from "./dom.js";
import { emit } from "./hooks.js";
import { channelName, t, when } from "./i18n.js";
import { agentName, state } from "./state.js";

export function author(m, view) {
  if (m.direction === "note") return t("noteBy", { name: (m.sender && (m.sender.name || agentName(m.sender.id))) || t("agent") });
  const sender = m.sender || {};
  if (m.direction === "inbound") return sender.name || (state.contact && state.contact.name) || t("customer");
  if (sender.kind === "bot") return sender.name ? `${sender.name} · ${t("bot")}` : t("bot");
  if (sender.kind === "system") return t("system");
  // Replies stored before display names carry the id as their name: map it too.
  const id = sender.id || view.assignee;
  const name = sender.name && sender.name !== sender.id ? sender.name : agentName(id);
  return `${name || ""} · ${t("agent")}`;
}

export function renderMessages() {
  const list = $("messages");
  list.replaceChildren();
  let previous = null;
  for (const { message: m, conversation: view } of state.history) {
    const mine = view.id === state.current.id;
    if (view.id !== previous) {
      const label = `${channelName(view.channel)} · ${when(view.created_at)}${mine ? ` · ${t("current")}` : ""}`;
      list.append(el("li", { className: `divider${mine ? " current" : ""}`, text: label }));
      previous = view.id;
    }
    const kind = m.direction === "inbound" ? "customer" : m.direction === "note" ? "note" : m.sender && m.sender.kind === "bot" ? "bot" : "agent";
    const body = [];
    if (m.subject && m.channel === "email") body.push(el("p", { className: "subject", text: m.subject }));
    if (m.text) body.push(el("p", { className: "text", text: m.text }));
    // The customer changed it after sending: the new text shows, marked, the first kept.
    const edit = m.meta && m.meta.edit;
    if (edit) body.push(el("p", { className: "muted small changed", text: t("edited", { text: edit.original_text || "" }) }));
    if ((m.flags || []).includes("deleted")) body.push(el("p", { className: "muted small changed", text: t("deleted") }));
    if (m.template) {
      const params = (m.template.params || []).join(", ");
      body.push(
        el("p", { className: "template", text: `${t("template", { name: m.template.name, language: m.template.language || "" })}${params ? `: ${params}` : ""}` }),
      );
    }
    if (m.attachments && m.attachments.length) {
      body.push(
        el(
          "ul",
          { className: "attachments" },
          m.attachments.map((a, index) => {
            const label = a.name || a.content_type || t("attachment");
            const href = a.url ? safeUrl(a.url) : null;
            let link = el("span", { text: label });
            if (a.storage_key) link = storedAttachmentLink(m, view, a, index, label);
            else if (href) link = el("a", { href, target: "_blank", rel: "noopener noreferrer", text: label });
            return el(
              "li",
              {},
              link,
              a.size ? el("span", { className: "muted small", text: ` ${Math.ceil(a.size / 1024)} KB` }) : null,
            );
          }),
        ),
      );
    }
    const status = m.direction === "outbound" && m.status
      ? el(
          "span",
          { className: `delivery d-${m.status}`, dataset: { status: m.status }, title: m.error || null },
          t(`d_${m.status}`),
          m.error ? `: ${m.error}` : "",
        )
      : null;
    list.append(
      el(
        "li",
        { className: `msg ${kind}${mine ? "" : " other"}`, dataset: { id: m.id, direction: m.direction } },
        el(
          "div",
          { className: "msg-head" },
          el("span", { className: "author", text: author(m, view) }),
          mine ? null : badge(channelName(m.channel), `ch ch-${m.channel}`),
          // When the customer wrote it (the provider's clock), else when it reached us.
          el("time", { datetime: m.provider_ts || m.received_at, text: when(m.provider_ts || m.received_at) }),
          status,
        ),
        ...body,
      ),
    );
  }
}

// A file the gateway keeps (an email attachment): the link names the API path, but a
// plain navigation cannot carry the bearer token, so a click fetches it with the token
// and saves it from a blob URL under its own name.
export function storedAttachmentLink(m, view, a, index, label) {
  const conversationId = m.conversation_id || view.id;
  const path = `/api/v1/conversations/${encodeURIComponent(conversationId)}/messages/${encodeURIComponent(m.id)}/attachments/${index}`;
  const name = a.name || t("attachment");
  return el("a", {
    href: path,
    download: name,
    className: "stored",
    title: t("download", { name }),
    text: label,
    onclick: (event) => {
      event.preventDefault();
      downloadAttachment(path, name);
    },
  });
}

export async function downloadAttachment(path, name) {
  const line = $("action-message");
  line.classList.remove("error");
  line.textContent = "";
  const fail = (message) => {
    line.textContent = t("downloadFailed", { name, message });
    line.classList.add("error");
  };
  let resp;
  try {
    resp = await fetch(path, { headers: { Authorization: `Bearer ${state.token}` }, cache: "no-store" });
  } catch (err) {
    fail(t("unreachable"));
    return;
  }
  if (!resp.ok) {
    let error = {};
    try {
      error = (await resp.json()).error || {};
    } catch (err) {
      error = {};
    }
    if (resp.status === 401 && state.principal) emit("unauthorized");
    else fail(error.message || resp.statusText);
    return;
  }
  let data;
  try {
    data = await resp.blob();
  } catch (err) {
    fail(t("unreachable"));
    return;
  }
  // Typed as plain bytes: the browser saves the file and never opens what a customer
  // sent (HTML, SVG) as a page of this origin.
  const url = URL.createObjectURL(new Blob([data], { type: "application/octet-stream" }));
  const save = el("a", { href: url, download: name, hidden: true });
  document.body.append(save);
  save.click();
  save.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}
