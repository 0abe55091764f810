/* The agent and ops console: plain JavaScript against /api/v1, live over /api/v1/events/ws.
 *
 * Everything the page shows is fetched from the API; events from the socket only say
 * "this changed", and the page reloads what they concern. Text from customers and agents
 * is only ever set with textContent, never parsed as HTML.
 */
(() => {
  "use strict";

  const TOKEN_KEY = "gateway.console.token"; // sessionStorage: this tab only
  const LANG_KEY = "gateway.console.lang"; // localStorage: a preference, not a secret
  const REFRESH_MS = 30000; // safety net: the live feed is best-effort and may drop an event
  const CHANNELS = ["api", "email", "sms", "voice", "webchat", "whatsapp", "messenger", "instagram", "telegram", "wechat"];
  const HISTORY_CONVERSATIONS = 8; // other conversations of the contact whose messages join the history

  const STRINGS = {
    en: {
      title: "Support console", signInTitle: "Sign in", tokenLabel: "Access token",
      tokenHint: "Kept in this browser tab only, until you sign out or close it.", signIn: "Sign in",
      signOut: "Sign out", tokenInvalid: "This token was not accepted.", tokenRefused: "Your token was refused; sign in again.",
      unreachable: "The gateway cannot be reached.", myQueues: "My queues", takeNext: "Take next",
      myConversations: "My conversations", noConversations: "Nothing assigned to you.",
      nothingWaiting: "Nothing is waiting in your queues.", atCapacity: "You are at your capacity; resolve one first.",
      noQueues: "No queue matches your skills.", waitingCount: "{n} waiting", oldest: "oldest {d}",
      operations: "Operations", queueHealth: "Queue health", queue: "Queue", waiting: "Waiting",
      oldestWait: "Oldest wait", agents: "Agents", skills: "Skills", replyTracking: "Reply tracking",
      overdue: "Overdue", dueSoon: "Due within the hour", nothingHere: "None.", rulesInForce: "Rules in force",
      showRules: "Show the rules file", version: "Version", loadedAt: "Loaded", loadedBy: "By", ruleCount: "Rules",
      queues: "Queues", simulate: "Try a message", channel: "Channel", text: "Text", subject: "Subject (email)",
      attributes: "Attributes", attributesHint: "One KEY=VALUE a line: contact.tier=vip, attribute.menu=2, language=zh",
      route: "Route it", rule: "Rule", priority: "Priority", language: "Language", noRule: "(none: the defaults)",
      back: "Back", pending: "Waiting on customer", resolve: "Resolve", transferTo: "Transfer to", transfer: "Transfer",
      history: "History", contact: "Contact", otherConversations: "Other conversations", routing: "Routing",
      reply: "Reply", internalNote: "Internal note", windowClosed: "Messaging window closed",
      windowClosedText: "The customer's {channel} window closed at {when}. Free text cannot be sent; send an approved template.",
      templateName: "Template name", templateLanguage: "Language", templateParams: "Parameters (one a line)",
      sendTemplate: "Send template", message: "Message", send: "Send", addNote: "Add note",
      replyPlaceholder: "Reply on {channel}…", notePlaceholder: "Internal note: agents see it, the customer never does…",
      opsNotesOnly: "Ops add internal notes; agents reply.", pickConversation: "Take the next conversation, or pick one of yours.",
      customer: "Customer", agent: "agent", bot: "Bot", system: "System", noteBy: "Internal note · {name}",
      current: "this conversation", replyWithin: "Reply within {d}", replyOverdue: "Reply overdue by {d}",
      noReplyDue: "No reply due", windowClosesIn: "{channel} window closes in {d}", windowClosedShort: "{channel} window closed",
      queuedIn: "Queue {queue}", assignedTo: "assigned to {agent}", unassigned: "waiting for an agent",
      prio: "priority {p}", rulesVersion: "rules {v}", routingVersion: "routing version {v}",
      name: "Name", since: "Since", attachment: "attachment", template: "Template {name} ({language})",
      download: "Download {name}", downloadFailed: "{name} could not be downloaded: {message}",
      transferred: "Transferred to {queue}.", resolvedMsg: "Resolved.", pendingMsg: "Waiting on the customer.",
      cannotSend: "This channel cannot send replies: {message}", live: "Live", connecting: "Connecting…",
      offline: "Offline, reconnecting…", noFeed: "Connected, no live feed", sla: "SLA attainment {v}",
      breaches: "breaches {n}", warnings: "warnings {n}", firstResponse: "avg first response {d}", asa: "avg wait to claim {d}",
      none: "—", roleOps: "ops", loadOf: "{n} of {cap}", loadN: "{n}", newMessage: "new",
      explanation: "Why", skillsNone: "none", target: "Targets",
      status_open: "Open", status_pending: "Waiting on customer", status_resolved: "Resolved",
      d_queued: "queued", d_sending: "sending", d_sent: "sent", d_delivered: "delivered", d_read: "read",
      d_undelivered: "undelivered", d_failed: "failed",
      ch_api: "API", ch_email: "Email", ch_sms: "SMS", ch_voice: "Phone", ch_webchat: "Web chat",
      ch_whatsapp: "WhatsApp", ch_messenger: "Messenger", ch_instagram: "Instagram", ch_telegram: "Telegram",
      ch_wechat: "WeChat",
      id_phone: "Phone", id_email: "Email", id_messenger: "Messenger", id_instagram: "Instagram",
      id_telegram: "Telegram", id_wechat: "WeChat", id_webchat: "Web chat visitor", id_api: "API id",
      dur_d: "{d} d {h} h", dur_h: "{h} h {m} m", dur_m: "{m} m {s} s", dur_s: "{s} s",
    },
    zh: {
      title: "客服工作台", signInTitle: "登录", tokenLabel: "访问令牌",
      tokenHint: "令牌只保存在当前标签页，退出或关闭标签页即清除。", signIn: "登录",
      signOut: "退出", tokenInvalid: "令牌无效。", tokenRefused: "令牌被拒绝，请重新登录。",
      unreachable: "无法连接网关。", myQueues: "我的队列", takeNext: "接入下一个",
      myConversations: "我的会话", noConversations: "暂无分配给你的会话。",
      nothingWaiting: "你的队列中没有等待的会话。", atCapacity: "已达到你的接待上限，请先解决一个会话。",
      noQueues: "没有与你的技能匹配的队列。", waitingCount: "{n} 个等待", oldest: "最久 {d}",
      operations: "运营", queueHealth: "队列状况", queue: "队列", waiting: "等待",
      oldestWait: "最长等待", agents: "坐席", skills: "技能", replyTracking: "回复时限",
      overdue: "已超时", dueSoon: "一小时内到期", nothingHere: "无。", rulesInForce: "生效的路由规则",
      showRules: "查看规则文件", version: "版本", loadedAt: "加载时间", loadedBy: "来源", ruleCount: "规则数",
      queues: "队列", simulate: "模拟路由", channel: "渠道", text: "内容", subject: "主题（邮件）",
      attributes: "属性", attributesHint: "每行一个 KEY=VALUE：contact.tier=vip、attribute.menu=2、language=zh",
      route: "模拟", rule: "规则", priority: "优先级", language: "语言", noRule: "（无：使用默认）",
      back: "返回", pending: "等待客户", resolve: "解决", transferTo: "转接到", transfer: "转接",
      history: "历史记录", contact: "客户", otherConversations: "其他会话", routing: "路由",
      reply: "回复", internalNote: "内部备注", windowClosed: "会话窗口已关闭",
      windowClosedText: "客户的 {channel} 会话窗口已于 {when} 关闭，无法发送普通消息；请发送已审核的模板消息。",
      templateName: "模板名称", templateLanguage: "语言", templateParams: "参数（每行一个）",
      sendTemplate: "发送模板", message: "消息", send: "发送", addNote: "添加备注",
      replyPlaceholder: "通过 {channel} 回复…", notePlaceholder: "内部备注：仅坐席可见，客户看不到…",
      opsNotesOnly: "运营人员只能添加内部备注，由坐席回复客户。", pickConversation: "接入下一个会话，或选择你的会话。",
      customer: "客户", agent: "坐席", bot: "机器人", system: "系统", noteBy: "内部备注 · {name}",
      current: "当前会话", replyWithin: "需在 {d} 内回复", replyOverdue: "回复已超时 {d}",
      noReplyDue: "暂无待回复", windowClosesIn: "{channel} 会话窗口 {d} 后关闭", windowClosedShort: "{channel} 会话窗口已关闭",
      queuedIn: "队列 {queue}", assignedTo: "由 {agent} 处理", unassigned: "等待坐席接入",
      prio: "优先级 {p}", rulesVersion: "规则 {v}", routingVersion: "路由版本 {v}",
      name: "姓名", since: "创建于", attachment: "附件", template: "模板 {name}（{language}）",
      download: "下载 {name}", downloadFailed: "无法下载 {name}：{message}",
      transferred: "已转接到 {queue}。", resolvedMsg: "已解决。", pendingMsg: "正在等待客户回复。",
      cannotSend: "该渠道无法发送回复：{message}", live: "实时", connecting: "连接中…",
      offline: "已断开，正在重连…", noFeed: "已连接，无实时推送", sla: "达标率 {v}",
      breaches: "超时 {n}", warnings: "预警 {n}", firstResponse: "平均首次响应 {d}", asa: "平均接入等待 {d}",
      none: "—", roleOps: "运营", loadOf: "{n} / {cap}", loadN: "{n}", newMessage: "新",
      explanation: "原因", skillsNone: "无", target: "目标",
      status_open: "处理中", status_pending: "等待客户", status_resolved: "已解决",
      d_queued: "排队中", d_sending: "发送中", d_sent: "已发送", d_delivered: "已送达", d_read: "已读",
      d_undelivered: "未送达", d_failed: "发送失败",
      ch_api: "API", ch_email: "邮件", ch_sms: "短信", ch_voice: "电话", ch_webchat: "网页聊天",
      ch_whatsapp: "WhatsApp", ch_messenger: "Messenger", ch_instagram: "Instagram", ch_telegram: "Telegram",
      ch_wechat: "微信",
      id_phone: "电话", id_email: "邮箱", id_messenger: "Messenger", id_instagram: "Instagram",
      id_telegram: "Telegram", id_wechat: "微信", id_webchat: "网页访客", id_api: "API 编号",
      dur_d: "{d}天{h}小时", dur_h: "{h}小时{m}分", dur_m: "{m}分{s}秒", dur_s: "{s}秒",
    },
  };

  const state = {
    lang: "en",
    token: null,
    principal: null, // {role, agent}
    me: null,
    ops: { queues: null, overdue: null, due: null, summary: null, rules: null },
    current: null, // the open conversation's view
    contact: null,
    history: [], // messages of the contact's conversations, oldest first, each with its conversation
    others: [],
    mode: "reply",
    windowClosedByServer: false,
    unread: new Set(),
    contactNames: new Map(), // contact id → name, for lists whose rows carry only ids
    socket: null,
    socketBackoff: 1000,
    timers: {},
  };

  const $ = (id) => document.getElementById(id);

  function t(key, vars) {
    let text = (STRINGS[state.lang] && STRINGS[state.lang][key]) || STRINGS.en[key] || key;
    for (const [name, value] of Object.entries(vars || {})) text = text.split(`{${name}}`).join(String(value));
    return text;
  }

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "text") node.textContent = value;
      else if (key === "className") node.className = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function setText(id, text) {
    $(id).textContent = text;
  }

  function show(node, visible) {
    node.hidden = !visible;
  }

  // ---- formatting ----------------------------------------------------------------

  const pad = (n) => String(n).padStart(2, "0");

  function duration(ms) {
    // Time left counts down (floor); time overdue counts up from the first second (ceil).
    const total = Math.max(0, ms < 0 ? Math.ceil(-ms / 1000) : Math.floor(ms / 1000));
    const d = Math.floor(total / 86400), h = Math.floor((total % 86400) / 3600);
    const m = Math.floor((total % 3600) / 60), s = total % 60;
    if (d > 0) return t("dur_d", { d, h });
    if (h > 0) return t("dur_h", { h, m: pad(m) });
    if (m > 0) return t("dur_m", { m, s: pad(s) });
    return t("dur_s", { s });
  }

  function locale() {
    return state.lang === "zh" ? "zh-CN" : "en-GB";
  }

  function when(iso) {
    if (!iso) return t("none");
    const date = new Date(iso);
    const sameDay = date.toDateString() === new Date().toDateString();
    const options = sameDay
      ? { hour: "2-digit", minute: "2-digit" }
      : { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" };
    return new Intl.DateTimeFormat(locale(), options).format(date);
  }

  const channelName = (channel) => t(`ch_${channel}`);

  function badge(text, kind) {
    return el("span", { className: `badge ${kind || ""}`.trim(), text });
  }

  function safeUrl(url) {
    try {
      const parsed = new URL(url, location.href);
      return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.href : null;
    } catch (err) {
      return null;
    }
  }

  // ---- the API ---------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  async function api(method, path, body) {
    const headers = { Authorization: `Bearer ${state.token}`, Accept: "application/json" };
    const init = { method, headers, cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let resp;
    try {
      resp = await fetch(path, init);
    } catch (err) {
      throw new ApiError(0, "unreachable", t("unreachable"));
    }
    if (resp.status === 204) return null;
    let data = null;
    try {
      data = await resp.json();
    } catch (err) {
      data = null;
    }
    if (!resp.ok) {
      const error = (data && data.error) || {};
      if (resp.status === 401 && state.principal) signOut(t("tokenRefused"));
      throw new ApiError(resp.status, error.code || String(resp.status), error.message || resp.statusText);
    }
    return data;
  }

  // ---- language --------------------------------------------------------------------

  function applyLanguage() {
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
  }

  function toggleLanguage() {
    state.lang = state.lang === "zh" ? "en" : "zh";
    localStorage.setItem(LANG_KEY, state.lang);
    applyLanguage();
  }

  // ---- signing in and out ------------------------------------------------------------

  async function whoAmI() {
    const who = await api("GET", "/api/v1/me");
    return { role: who.role, agent: who.agent };
  }

  async function signIn(token) {
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

  function signOut(message) {
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
    showSignIn(message);
  }

  function showSignIn(message) {
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

  function enterWorkspace() {
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
  }

  function renderWho() {
    const who = $("who");
    if (!state.principal) return;
    who.textContent = state.principal.role === "ops" ? t("roleOps") : `${state.principal.agent} · ${t("agent")}`;
    show(who, true);
  }

  function refreshAll() {
    if (!state.principal) return;
    if (state.principal.role === "agent") refreshMe();
    else refreshOps(true);
    if (state.current) refreshPane();
  }

  function schedule(key, fn, delay) {
    clearTimeout(state.timers[key]);
    state.timers[key] = setTimeout(() => {
      delete state.timers[key];
      fn();
    }, delay);
  }

  // ---- the agent's side ------------------------------------------------------------

  async function refreshMe() {
    try {
      state.me = await api("GET", "/api/v1/agents/me");
    } catch (err) {
      return;
    }
    renderMe();
    renderTransferQueues();
  }

  function renderMe() {
    const me = state.me;
    if (!me) return;
    const list = $("queue-list");
    list.replaceChildren();
    if (!me.queues.length) list.append(el("li", { className: "muted", text: t("noQueues") }));
    for (const q of me.queues) {
      list.append(
        el(
          "li",
          { className: q.depth > 0 ? "queue busy" : "queue", dataset: { queue: q.name } },
          el("span", { className: "queue-name", text: q.name }),
          el("span", { className: "depth", text: String(q.depth), "aria-label": t("waitingCount", { n: q.depth }) }),
          q.oldest_wait_seconds != null
            ? el("span", { className: "muted small", text: t("oldest", { d: duration(q.oldest_wait_seconds * 1000) }) })
            : null,
        ),
      );
    }
    setText("load", me.capacity ? t("loadOf", { n: me.active, cap: me.capacity }) : t("loadN", { n: me.active }));
    const mine = $("my-list");
    mine.replaceChildren(...me.conversations.map((c) => conversationItem(c, c.contact_name, c.last_message)));
    show($("my-empty"), me.conversations.length === 0);
    tick();
  }

  function conversationItem(conv, name, last) {
    const current = state.current && state.current.id === conv.id;
    const rb = conv.reply_tracking && conv.reply_tracking.reply_by;
    const title = name || conv.subject || conv.id.slice(-8);
    const line2 = last ? last.text : [conv.queue, conv.assignee || t("unassigned")].filter(Boolean).join(" · ");
    const button = el(
      "button",
      {
        type: "button",
        className: `conv-item${current ? " current" : ""}${state.unread.has(conv.id) ? " unread" : ""}`,
        dataset: { id: conv.id },
        "aria-current": current ? "true" : null,
        onclick: () => openConversation(conv.id),
      },
      el(
        "span",
        { className: "line1" },
        el("span", { className: "name", text: title }),
        badge(channelName(conv.channel), `ch ch-${conv.channel}`),
        conv.status === "pending" ? badge(t("status_pending"), "status-pending") : null,
        state.unread.has(conv.id) ? badge(t("newMessage"), "new") : null,
      ),
      el("span", { className: "line2", text: line2 || "" }),
      el("span", { className: "due", dataset: { replyBy: rb || "" } }),
    );
    return el("li", {}, button);
  }

  async function takeNext() {
    const note = $("next-message");
    note.textContent = "";
    note.classList.remove("error");
    const button = $("take-next");
    button.disabled = true;
    try {
      const conv = await api("POST", "/api/v1/agents/me/next");
      if (!conv) note.textContent = t("nothingWaiting");
      else await openConversation(conv.id);
      await refreshMe();
    } catch (err) {
      note.textContent = err.code === "capacity" ? t("atCapacity") : err.message;
      note.classList.add("error");
    } finally {
      button.disabled = false;
    }
  }

  // ---- the ops view ------------------------------------------------------------------

  async function refreshOps(withRules) {
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

  async function learnContactNames(conversations) {
    const missing = [...new Set(conversations.map((c) => c.contact_id))].filter((id) => !state.contactNames.has(id));
    const found = await Promise.all(
      missing.slice(0, 50).map((id) => api("GET", `/api/v1/contacts/${encodeURIComponent(id)}`).catch(() => null)),
    );
    for (const contact of found) if (contact) state.contactNames.set(contact.id, contact.name || "");
    return found.some(Boolean);
  }

  function renderOps() {
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
          el("td", { text: q.agents.join(", ") || t("none") }),
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

  function renderRisk(listId, countId, conversations) {
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

  function facts(dl, pairs) {
    dl.replaceChildren();
    for (const [label, value, cls] of pairs) {
      if (value === null || value === undefined || value === "") continue;
      dl.append(el("dt", { text: label }), el("dd", { className: cls || null, text: String(value) }));
    }
  }

  function renderRules() {
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

  function renderSimChannels() {
    const select = $("sim-channel");
    const chosen = select.value || "sms";
    select.replaceChildren(...CHANNELS.map((c) => el("option", { value: c, text: channelName(c) })));
    select.value = chosen;
  }

  function parseAttributes(text) {
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

  async function simulate(event) {
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

  // ---- the conversation pane -----------------------------------------------------------

  let loadSeq = 0;

  async function openConversation(id) {
    state.unread.delete(id);
    if (!state.current || state.current.id !== id) {
      state.windowClosedByServer = false;
      $("reply-text").value = "";
      showComposerError(null);
      setText("action-message", "");
    }
    await loadConversation(id, true);
  }

  function refreshPane() {
    if (state.current) loadConversation(state.current.id, false);
  }

  async function loadConversation(id, scrollToEnd) {
    const seq = ++loadSeq;
    let conv, contact;
    try {
      conv = await api("GET", `/api/v1/conversations/${encodeURIComponent(id)}`);
      contact = conv.contact ? await api("GET", `/api/v1/contacts/${encodeURIComponent(conv.contact.id)}`) : null;
    } catch (err) {
      if (seq === loadSeq) setText("action-message", err.message);
      return;
    }
    const others = contact ? contact.conversations.filter((c) => c.id !== conv.id) : [];
    const extra = await Promise.all(
      others.slice(0, HISTORY_CONVERSATIONS).map((c) =>
        api("GET", `/api/v1/conversations/${encodeURIComponent(c.id)}`).catch(() => null),
      ),
    );
    if (seq !== loadSeq) return; // a newer load started meanwhile
    const history = [];
    for (const view of [conv, ...extra.filter(Boolean)]) {
      for (const m of view.messages || []) history.push({ message: m, conversation: view });
    }
    history.sort((a, b) => new Date(a.message.received_at) - new Date(b.message.received_at));
    const timeline = $("messages");
    const atEnd = timeline.scrollHeight - timeline.scrollTop - timeline.clientHeight < 40;
    state.current = conv;
    state.contact = contact || conv.contact;
    state.others = others;
    state.history = history;
    updateLayout();
    renderPane();
    if (scrollToEnd || atEnd) timeline.scrollTop = timeline.scrollHeight;
    if (state.me) renderMe();
  }

  function updateLayout() {
    const open = Boolean(state.current);
    show($("pane"), open);
    show($("placeholder"), !open && state.principal && state.principal.role === "agent");
    $("workspace").classList.toggle("has-conversation", open);
  }

  function closeConversation() {
    state.current = null;
    updateLayout();
    if (state.me) renderMe();
    if (state.principal && state.principal.role === "ops") renderOps();
  }

  function renderPane() {
    const conv = state.current;
    if (!conv) return;
    const contact = state.contact;
    setText("conv-title", (contact && contact.name) || conv.subject || t("customer"));
    $("conv-badges").replaceChildren(
      badge(channelName(conv.channel), `ch ch-${conv.channel}`),
      badge(t(`status_${conv.status}`), `status-${conv.status}`),
    );
    const meta = [];
    if (conv.queue) meta.push(t("queuedIn", { queue: conv.queue }));
    meta.push(conv.assignee ? t("assignedTo", { agent: conv.assignee }) : t("unassigned"));
    meta.push(t("prio", { p: conv.priority }));
    if (conv.subject) meta.push(conv.subject);
    setText("conv-meta", meta.join(" · "));
    const resolved = conv.status === "resolved";
    $("resolve").disabled = resolved;
    $("pending").disabled = resolved || conv.status === "pending";
    $("transfer").disabled = resolved;
    renderTransferQueues();
    renderMessages();
    renderDetails();
    renderComposer();
    tick();
  }

  function renderTransferQueues() {
    const select = $("transfer-queue");
    let names = [];
    if (state.me) names = state.me.transfer_queues || [];
    else if (state.ops.queues) names = state.ops.queues.queues.map((q) => q.name);
    const chosen = select.value;
    select.replaceChildren(
      ...names.filter((n) => !state.current || n !== state.current.queue).map((n) => el("option", { value: n, text: n })),
    );
    if (chosen && names.includes(chosen)) select.value = chosen;
  }

  function author(m, view) {
    if (m.direction === "note") return t("noteBy", { name: (m.sender && (m.sender.name || m.sender.id)) || t("agent") });
    const sender = m.sender || {};
    if (m.direction === "inbound") return sender.name || (state.contact && state.contact.name) || t("customer");
    if (sender.kind === "bot") return sender.name ? `${sender.name} · ${t("bot")}` : t("bot");
    if (sender.kind === "system") return t("system");
    return `${sender.name || sender.id || view.assignee || ""} · ${t("agent")}`;
  }

  function renderMessages() {
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
  function storedAttachmentLink(m, view, a, index, label) {
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

  async function downloadAttachment(path, name) {
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
      if (resp.status === 401 && state.principal) signOut(t("tokenRefused"));
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

  function renderDetails() {
    const contact = state.contact;
    facts($("contact-facts"), contact
      ? [
          [t("name"), contact.name],
          [t("since"), when(contact.created_at)],
          ...Object.entries(contact.attributes || {}).map(([k, v]) => [k, Array.isArray(v) ? v.join(", ") : v]),
        ]
      : []);
    $("identities").replaceChildren(
      ...((contact && contact.identities) || []).map((i) =>
        el("li", { dataset: { kind: i.kind } }, el("span", { className: "muted", text: `${t(`id_${i.kind}`)} ` }), el("span", { className: "mono", text: i.value })),
      ),
    );
    $("others").replaceChildren(
      ...(state.others.length
        ? state.others.map((c) =>
            el(
              "li",
              {},
              el(
                "button",
                { type: "button", className: "link", onclick: () => openConversation(c.id) },
                badge(channelName(c.channel), `ch ch-${c.channel}`),
                ` ${t(`status_${c.status}`)} · ${when(c.updated_at)}`,
              ),
            ),
          )
        : [el("li", { className: "muted", text: t("nothingHere") })]),
    );
    const r = state.current.routing;
    facts($("routing-facts"), r
      ? [
          [t("queue"), r.queue],
          [t("rule"), r.rule || t("noRule")],
          [t("priority"), r.priority],
          [t("skills"), (r.skills || []).join(", ") || t("skillsNone")],
          [t("language"), r.language],
          [t("version"), `${r.rules_version} · ${t("routingVersion", { v: state.current.routing_version })}`, "mono"],
        ]
      : []);
    $("explanation").replaceChildren(...((r && r.explanation) || []).map((line) => el("li", { text: line })));
  }

  // ---- the clocks ------------------------------------------------------------------------

  function windowClosed(conv) {
    if (!conv || !conv.window_expires_at) return state.windowClosedByServer;
    return state.windowClosedByServer || new Date(conv.window_expires_at).getTime() <= Date.now();
  }

  function tick() {
    const now = Date.now();
    for (const node of document.querySelectorAll(".due[data-reply-by]")) {
      const rb = node.dataset.replyBy;
      if (!rb) {
        node.textContent = "";
        node.classList.remove("overdue");
        continue;
      }
      const left = new Date(rb).getTime() - now;
      node.textContent = left >= 0 ? duration(left) : `-${duration(left)}`;
      node.classList.toggle("overdue", left < 0);
      node.title = left >= 0 ? t("replyWithin", { d: duration(left) }) : t("replyOverdue", { d: duration(left) });
    }
    const conv = state.current;
    if (!conv) return;
    const countdown = $("countdown");
    const rb = conv.reply_tracking && conv.reply_tracking.reply_by;
    if (!rb) {
      countdown.textContent = t("noReplyDue");
      countdown.className = "countdown none";
      countdown.removeAttribute("title");
    } else {
      const left = new Date(rb).getTime() - now;
      countdown.textContent = left >= 0 ? t("replyWithin", { d: duration(left) }) : t("replyOverdue", { d: duration(left) });
      const warning = left >= 0 && conv.reply_tracking.state === "warning";
      countdown.className = `countdown ${left < 0 ? "overdue" : warning ? "warning" : "ok"}`;
      countdown.title = when(rb);
    }
    const win = $("window");
    if (conv.window_expires_at) {
      const left = new Date(conv.window_expires_at).getTime() - now;
      const channel = channelName(conv.channel);
      win.textContent = left > 0 ? t("windowClosesIn", { channel, d: duration(left) }) : t("windowClosedShort", { channel });
      win.className = `window ${left > 0 ? "open" : "closed"}`;
      show(win, true);
      if (left <= 0 && !$("window-closed").dataset.shown && state.mode === "reply") renderComposer();
    } else {
      show(win, false);
    }
  }

  // ---- the composer ------------------------------------------------------------------------

  function renderComposer() {
    const conv = state.current;
    const ops = state.principal && state.principal.role === "ops";
    if (ops) state.mode = "note";
    show($("mode-reply"), !ops);
    $("mode-reply").setAttribute("aria-pressed", String(state.mode === "reply"));
    $("mode-note").setAttribute("aria-pressed", String(state.mode === "note"));
    const closed = state.mode === "reply" && windowClosed(conv);
    const notice = $("window-closed");
    show(notice, closed);
    notice.dataset.shown = closed ? "1" : "";
    if (closed && conv) {
      const at = conv.window_expires_at ? when(conv.window_expires_at) : "";
      setText("window-closed-text", t("windowClosedText", { channel: channelName(conv.channel), when: at }));
      const lang = $("tpl-language");
      if (!lang.value) lang.value = state.lang === "zh" ? "zh_CN" : "en_US";
    }
    show($("template-form"), closed);
    show($("reply-form"), !closed);
    const text = $("reply-text");
    const channel = conv ? channelName(conv.channel) : "";
    text.placeholder = state.mode === "note" ? (ops ? t("opsNotesOnly") : t("notePlaceholder")) : t("replyPlaceholder", { channel });
    $("send").textContent = state.mode === "note" ? t("addNote") : t("send");
    $("reply-form").classList.toggle("noting", state.mode === "note");
  }

  function setMode(mode) {
    state.mode = mode;
    showComposerError(null);
    renderComposer();
    $(windowClosed(state.current) && mode === "reply" ? "tpl-name" : "reply-text").focus();
  }

  function showComposerError(message) {
    const error = $("composer-error");
    error.textContent = message || "";
    show(error, Boolean(message));
  }

  function explain(err) {
    if (err.code === "channel_cannot_send") return t("cannotSend", { message: err.message });
    return err.message;
  }

  async function sendReply(event) {
    event.preventDefault();
    const conv = state.current;
    const box = $("reply-text");
    const text = box.value;
    if (!conv || !text.trim()) return;
    showComposerError(null);
    $("send").disabled = true;
    try {
      await api("POST", `/api/v1/conversations/${encodeURIComponent(conv.id)}/messages`, { text, note: state.mode === "note" });
      box.value = "";
      await loadConversation(conv.id, true);
    } catch (err) {
      if (err.code === "window_closed") {
        state.windowClosedByServer = true;
        renderComposer();
      }
      showComposerError(explain(err));
    } finally {
      $("send").disabled = false;
    }
  }

  async function sendTemplate(event) {
    event.preventDefault();
    const conv = state.current;
    const name = $("tpl-name").value.trim();
    if (!conv || !name) return;
    showComposerError(null);
    const template = {
      name,
      language: $("tpl-language").value.trim() || "en_US",
      params: $("tpl-params").value.split("\n").map((p) => p.trim()).filter(Boolean),
    };
    try {
      await api("POST", `/api/v1/conversations/${encodeURIComponent(conv.id)}/messages`, { template });
      $("tpl-name").value = "";
      $("tpl-params").value = "";
      await loadConversation(conv.id, true);
    } catch (err) {
      showComposerError(explain(err));
    }
  }

  async function act(path, body, success) {
    const conv = state.current;
    if (!conv) return;
    const line = $("action-message");
    line.classList.remove("error");
    line.textContent = "";
    try {
      await api("POST", `/api/v1/conversations/${encodeURIComponent(conv.id)}/${path}`, body);
      line.textContent = success;
    } catch (err) {
      line.textContent = err.message;
      line.classList.add("error");
    }
    await loadConversation(conv.id, false);
    if (state.principal.role === "agent") refreshMe();
    else refreshOps(false);
  }

  // ---- live updates --------------------------------------------------------------------------

  let liveState = "connecting";

  function renderLive() {
    const node = $("live");
    node.textContent = t(liveState);
    node.className = `live ${liveState}`;
    show(node, Boolean(state.principal));
  }

  function setLive(value) {
    liveState = value;
    renderLive();
  }

  function closeSocket() {
    if (state.socket) {
      const socket = state.socket;
      state.socket = null;
      socket.onclose = null;
      socket.close(1000);
    }
    clearTimeout(state.timers.reconnect);
  }

  function connectSocket() {
    closeSocket();
    setLive("connecting");
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${location.host}/api/v1/events/ws`);
    let wasReady = false;
    state.socket = socket;
    socket.onopen = () => socket.send(JSON.stringify({ type: "auth", token: state.token }));
    socket.onmessage = (message) => {
      let frame;
      try {
        frame = JSON.parse(message.data);
      } catch (err) {
        return;
      }
      if (frame.type === "ready") {
        setLive(frame.live ? "live" : "noFeed");
        if (state.socketBackoff > 1000) refreshAll(); // back after a drop: catch up
        state.socketBackoff = 1000;
        wasReady = true;
      } else if (frame.type === "event") {
        onEvent(frame);
      } else if (frame.type === "resync") {
        refreshAll();
      }
    };
    socket.onclose = (close) => {
      if (state.socket !== socket) return;
      state.socket = null;
      if (close.code === 4401) {
        signOut(t("tokenRefused"));
        return;
      }
      if (!state.principal) return;
      setLive("offline");
      const delay = wasReady ? 1000 : state.socketBackoff;
      state.socketBackoff = Math.min(Math.max(delay, 1000) * 2, 15000);
      state.timers.reconnect = setTimeout(connectSocket, delay);
    };
  }

  function onEvent(frame) {
    const role = state.principal && state.principal.role;
    if (!role) return;
    const current = state.current;
    const concernsCurrent =
      current &&
      (frame.conversation_id === current.id ||
        (frame.contact_id && state.contact && frame.contact_id === state.contact.id) ||
        state.others.some((c) => c.id === frame.conversation_id));
    if (frame.event === "message.inbound" && frame.conversation_id && !(current && frame.conversation_id === current.id)) {
      state.unread.add(frame.conversation_id);
    }
    if (concernsCurrent) schedule("pane", refreshPane, 150);
    if (role === "agent") schedule("me", refreshMe, 200);
    else schedule("ops", () => refreshOps(false), 300);
  }

  // ---- start ------------------------------------------------------------------------------------

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
    $("reply-text").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) $("reply-form").requestSubmit();
    });
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
})();
