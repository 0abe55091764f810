/*
 * Web chat widget of the omnichannel support gateway. No dependencies, no build step.
 * Paste one tag on any page (the gateway must list the page's origin in
 * channels.webchat.allowed_origins):
 *
 *   <script src="https://support.example.com/static/widget.js" async
 *           data-gateway="https://support.example.com" data-title="Support" data-lang="zh"></script>
 *
 * data-gateway  the gateway's base URL (default: where this script came from)
 * data-title    the panel's title (default: "Support" / "在线客服")
 * data-lang     "zh" or "en" (default: the page's lang, then the browser's languages)
 * data-open     "true" opens the panel at once (the demo page does)
 * data-user-jwt the site's signed identity of its signed-in user: an HS256 JWT (sub, exp,
 *               optional name, email, phone) made on the site's server with
 *               verification.webchat_jwt_secret (docs/verification.md). The visitor is
 *               then that user, verified; a bad or expired one is shown and not retried.
 * data-send-key "enter" (default: Enter sends, Shift+Enter is a new line) or "ctrl-enter"
 *               (only Ctrl/⌘+Enter sends) — the same rule as the agents' console
 * data-queue    the routing queue this page's customers go to (default: the one a web chat
 *               message would be routed to now): "online" means an agent of it is online
 *
 * The visitor's token, unsent messages and name/email stay in this browser's
 * localStorage, so a reload or another tab continues the same conversation.
 */
(function () {
  "use strict";
  if (window.GatewayChat) return;

  var script = document.currentScript || (function () {
    var found = document.querySelectorAll('script[src*="/static/widget.js"]');
    return found[found.length - 1];
  })();
  var data = (script && script.dataset) || {};
  var base = data.gateway || (script && script.src ? new URL(script.src, location.href).origin : location.origin);
  base = base.replace(/\/+$/, "");
  var WS_URL = base.replace(/^http/i, "ws") + "/webchat/ws";
  var KEY = "gwchat:" + base + ":";

  var TEXT = {
    en: {
      title: "Support", launcher: "Chat with us", close: "Close chat", log: "Messages",
      label: "Message", placeholder: "Type a message…", send: "Send", you: "You", agent: "Support",
      greeting: "Hi! How can we help you today?",
      connecting: "Connecting…", online: "Online", offline: "Reconnecting…",
      signedOut: "Your sign-in could not be confirmed. Reload the page to chat.",
      sending: "Sending…", sent: "Sent", waiting: "Waiting for connection", retrying: "Not sent yet, retrying…",
      failed: "Not sent: ", tooLong: "The message is too long (at most {n} characters).",
      details: "Your name, email and phone (optional)", name: "Name", email: "Email", save: "Save",
      phone: "Phone (+country code)", badPhone: "Please give the number with its country code, e.g. +86.",
      saved: "Saved", badEmail: "Please check the email address.", unread: "new messages",
      youSaid: "You said:", saidPrefix: "{name} said:",
      keyEnter: "Enter to send · Shift+Enter for a new line", keyCtrl: "{mod}+Enter to send",
      away: "No agent online", rate: "Your rating", rateN: "{n} of 5",
      rateNames: ["very poor", "poor", "fair", "good", "excellent"],
      bot: "Automatic answer (bot)", typing: "{name} is typing…"
    },
    zh: {
      title: "在线客服", launcher: "联系客服", close: "关闭聊天", log: "消息记录",
      label: "消息", placeholder: "请输入消息…", send: "发送", you: "我", agent: "客服",
      greeting: "您好！请问有什么可以帮您？",
      connecting: "正在连接…", online: "在线", offline: "正在重新连接…",
      signedOut: "无法确认您的登录状态，请刷新页面后再聊天。",
      sending: "发送中…", sent: "已发送", waiting: "等待连接", retrying: "尚未发送，正在重试…",
      failed: "发送失败：", tooLong: "消息过长（最多 {n} 个字）。",
      details: "您的姓名、邮箱和手机号（可选）", name: "姓名", email: "邮箱", save: "保存",
      phone: "手机号（含国家代码）", badPhone: "请填写带国家代码的号码，例如 +86。",
      saved: "已保存", badEmail: "请检查邮箱地址。", unread: "条新消息",
      youSaid: "我说：", saidPrefix: "{name}说：",
      keyEnter: "Enter 发送 · Shift+Enter 换行", keyCtrl: "{mod}+Enter 发送",
      away: "暂无客服在线", rate: "您的评分", rateN: "{n} 分（满分 5 分）",
      rateNames: ["非常不满意", "不满意", "一般", "满意", "非常满意"],
      bot: "自动回复（机器人）", typing: "{name}正在输入…"
    }
  };

  function pickLanguage() {
    var candidates = [data.lang, document.documentElement.lang].concat(navigator.languages || [navigator.language]);
    for (var i = 0; i < candidates.length; i++) {
      var c = String(candidates[i] || "").toLowerCase();
      if (c.indexOf("zh") === 0) return "zh";
      if (c.indexOf("en") === 0) return "en";
    }
    return "en";
  }
  var lang = pickLanguage();
  var t = TEXT[lang];

  // --- storage that survives a browser refusing it (private modes, blocked cookies) ---
  var memory = {};
  function load(name, fallback) {
    var raw = null;
    try { raw = window.localStorage.getItem(KEY + name); } catch (e) { raw = memory[name] || null; }
    if (raw === null) return fallback;
    try { return JSON.parse(raw); } catch (e) { return fallback; }
  }
  function save(name, value) {
    var raw = JSON.stringify(value);
    try { window.localStorage.setItem(KEY + name, raw); } catch (e) { memory[name] = raw; }
  }
  function forget(name) {
    try { window.localStorage.removeItem(KEY + name); } catch (e) { delete memory[name]; }
  }

  function newId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var bytes = new Uint8Array(16);
    (window.crypto || window.msCrypto).getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  // --- the panel, in a shadow root so the page's styles and ours never mix ---
  var CSS = [
    ":host{all:initial}",
    "*{box-sizing:border-box;font-family:system-ui,-apple-system,'Segoe UI','PingFang SC','Hiragino Sans GB','Microsoft YaHei','Noto Sans CJK SC',sans-serif}",
    ".sr{position:absolute;width:1px;height:1px;margin:-1px;padding:0;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap;border:0}",
    ".launcher{position:fixed;right:20px;bottom:20px;z-index:2147483000;display:flex;align-items:center;gap:8px;min-height:48px;padding:0 20px;border:0;border-radius:24px;background:#0b57d0;color:#fff;font-size:16px;font-weight:600;cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.25)}",
    ".launcher:hover{background:#0842a0}",
    ".launcher.hide{display:none}",
    ".badge{min-width:22px;height:22px;padding:0 6px;border-radius:11px;background:#d93025;color:#fff;font-size:13px;line-height:22px;text-align:center}",
    ".panel{position:fixed;right:20px;bottom:20px;z-index:2147483001;display:flex;flex-direction:column;width:370px;height:min(620px,calc(100vh - 40px));background:#fff;color:#1b1f24;border-radius:14px;overflow:hidden;box-shadow:0 10px 40px rgba(0,0,0,.28);font-size:15px;line-height:1.45}",
    ".panel[hidden]{display:none}",
    "header{display:flex;align-items:center;gap:10px;padding:12px 8px 12px 16px;background:#0b57d0;color:#fff}",
    "header .who{flex:1;min-width:0}",
    "h2{margin:0;font-size:17px;font-weight:600;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}",
    ".state{display:flex;align-items:center;gap:6px;font-size:13px;opacity:.95}",
    ".dot{width:8px;height:8px;border-radius:50%;background:#f9ab00}",
    ".state[data-state=online] .dot{background:#34d399}",
    ".state[data-state=offline] .dot{background:#c4c7c5}",
    ".state[data-state=away] .dot{background:#c4c7c5}",
    ".notice{margin:0;padding:8px 14px;background:#fff8e1;color:#4a3b00;font-size:13px;white-space:pre-line;border-bottom:1px solid #f1e2a8}",
    ".rating{display:flex;gap:6px;margin:6px 0 0;flex-wrap:wrap}",
    ".rating button{width:40px;height:40px;border:1px solid #0b57d0;border-radius:50%;background:#fff;color:#0b57d0;font-size:16px;font-weight:600;cursor:pointer}",
    ".rating button:hover:not(:disabled){background:#e8f0fe}",
    ".rating button[aria-pressed=true]{background:#0b57d0;color:#fff}",
    ".rating button:disabled{cursor:default;opacity:.55}",
    ".rating button[aria-pressed=true]:disabled{opacity:1}",
    ".close{width:44px;height:44px;border:0;border-radius:8px;background:transparent;color:#fff;font-size:26px;line-height:1;cursor:pointer}",
    ".close:hover{background:rgba(255,255,255,.15)}",
    "ol{flex:1;margin:0;padding:14px 12px;list-style:none;overflow-y:auto;background:#f6f8fb;overscroll-behavior:contain}",
    "li{display:flex;flex-direction:column;margin:0 0 10px}",
    "li.mine{align-items:flex-end}",
    "li.agent,li.note{align-items:flex-start}",
    ".bubble{max-width:82%;padding:8px 12px;border-radius:14px;white-space:pre-wrap;overflow-wrap:anywhere;word-break:break-word}",
    "li.mine .bubble{background:#0b57d0;color:#fff;border-bottom-right-radius:4px}",
    "li.agent .bubble{background:#fff;color:#1b1f24;border:1px solid #dde3ea;border-bottom-left-radius:4px}",
    "li.note .bubble{background:transparent;color:#444c56;padding:4px 2px}",
    "li.mine .bubble a{color:#fff}",
    ".bubble a{color:#0b57d0}",
    ".meta{margin:3px 4px 0;font-size:12px;color:#57606a}",
    "li.failed .meta{color:#b3261e}",
    ".details{border-top:1px solid #dde3ea;background:#fff}",
    "summary{padding:8px 14px;font-size:13px;color:#444c56;cursor:pointer}",
    ".fields{display:flex;flex-wrap:wrap;gap:8px;padding:0 14px 10px;align-items:flex-end}",
    ".fields label{display:flex;flex-direction:column;gap:2px;flex:1 1 140px;font-size:12px;color:#444c56}",
    ".fields input{min-height:36px;padding:6px 8px;border:1px solid #b8c0c8;border-radius:8px;font-size:16px;color:#1b1f24;background:#fff}",
    ".fields button{min-height:36px;padding:0 14px;border:1px solid #0b57d0;border-radius:8px;background:#fff;color:#0b57d0;font-size:14px;cursor:pointer}",
    ".fields .hint{flex-basis:100%;font-size:12px;color:#57606a;min-height:1em}",
    ".composer{display:flex;gap:8px;align-items:flex-end;padding:10px 12px;border-top:1px solid #dde3ea;background:#fff}",
    ".typing{margin:0;padding:4px 14px;font-size:12px;font-style:italic;color:#5f6b7a;background:#f6f8fb}",
    ".keyhint{margin:0;padding:0 12px 8px;font-size:11px;color:#5f6b7a;background:#fff}",
    "textarea{flex:1;min-height:44px;max-height:130px;padding:10px 12px;border:1px solid #b8c0c8;border-radius:10px;resize:none;font-size:16px;line-height:1.35;color:#1b1f24;background:#fff}",
    ".send{min-width:64px;min-height:44px;padding:0 14px;border:0;border-radius:10px;background:#0b57d0;color:#fff;font-size:15px;font-weight:600;cursor:pointer}",
    ".send:disabled{background:#8ab4f8;cursor:default}",
    "button:focus-visible,textarea:focus-visible,input:focus-visible,summary:focus-visible{outline:3px solid #f9ab00;outline-offset:2px}",
    "@media (max-width:480px){.panel{right:0;bottom:0;left:0;top:0;width:100%;height:100%;border-radius:0}.launcher{right:12px;bottom:12px}.bubble{max-width:88%}}",
    "@media (prefers-reduced-motion:no-preference){.panel{transition:opacity .15s}}"
  ].join("\n");

  var host = document.createElement("div");
  host.setAttribute("data-gateway-chat", "");
  var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    for (var k in attrs || {}) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "className") node.className = attrs[k];
      else node.setAttribute(k, attrs[k]);
    }
    (children || []).forEach(function (c) { node.appendChild(c); });
    return node;
  }

  var title = data.title || t.title;
  var style = el("style", { text: CSS });
  var badge = el("span", { className: "badge", hidden: "" });
  var launcher = el("button", {
    type: "button", className: "launcher", "aria-expanded": "false", "aria-controls": "gw-panel"
  }, [el("span", { text: t.launcher }), badge]);
  var stateText = el("span", { text: t.connecting });
  var stateLine = el("div", { className: "state", role: "status", "data-state": "connecting" },
    [el("span", { className: "dot", "aria-hidden": "true" }), stateText]);
  var closeButton = el("button", { type: "button", className: "close", "aria-label": t.close, text: "×" });
  var list = el("ol", { role: "log", "aria-live": "polite", "aria-label": t.log, tabindex: "0" });
  var notice = el("p", { className: "notice", role: "note", hidden: "" });
  var nameInput = el("input", { id: "gw-name", type: "text", autocomplete: "name", maxlength: "100" });
  var emailInput = el("input", { id: "gw-email", type: "email", autocomplete: "email", maxlength: "254" });
  var phoneInput = el("input", { id: "gw-phone", type: "tel", autocomplete: "tel", maxlength: "40" });
  var detailsHint = el("span", { className: "hint", "aria-live": "polite" });
  var saveButton = el("button", { type: "button", text: t.save });
  var details = el("details", { className: "details" }, [
    el("summary", { text: t.details }),
    el("div", { className: "fields" }, [
      el("label", { "for": "gw-name" }, [el("span", { text: t.name }), nameInput]),
      el("label", { "for": "gw-email" }, [el("span", { text: t.email }), emailInput]),
      el("label", { "for": "gw-phone" }, [el("span", { text: t.phone }), phoneInput]),
      saveButton, detailsHint
    ])
  ]);
  var input = el("textarea", { id: "gw-input", rows: "1", placeholder: t.placeholder, maxlength: "4000", enterkeyhint: "send" });
  var sendButton = el("button", { type: "submit", className: "send", text: t.send });
  var composer = el("form", { className: "composer" }, [
    el("label", { "for": "gw-input", className: "sr", text: t.label }), input, sendButton
  ]);
  var typingLine = el("p", { className: "typing", role: "status", hidden: "" });
  var SEND_KEY = data.sendKey === "ctrl-enter" ? "ctrl-enter" : "enter";
  var MOD = /Mac|iPhone|iPad/.test(navigator.platform || "") ? "\u2318" : "Ctrl";
  var keyHint = el("p", { className: "keyhint", text: SEND_KEY === "enter" ? t.keyEnter : t.keyCtrl.replace("{mod}", MOD) });
  var panel = el("section", { id: "gw-panel", className: "panel", role: "dialog", "aria-labelledby": "gw-title", hidden: "", lang: lang === "zh" ? "zh-CN" : "en" }, [
    el("header", {}, [
      el("div", { className: "who" }, [el("h2", { id: "gw-title", text: title }), stateLine]),
      closeButton
    ]),
    notice, list, typingLine, details, composer, keyHint
  ]);
  root.appendChild(style);
  root.appendChild(panel);
  root.appendChild(launcher);

  // --- messages on screen ---
  var shown = {};     // key → {node, meta, at, from, id}
  var greeting = null;
  var unread = 0;

  function timeOf(ms) {
    try {
      return new Date(ms).toLocaleTimeString(lang === "zh" ? "zh-CN" : "en", { hour: "2-digit", minute: "2-digit" });
    } catch (e) { return ""; }
  }

  function linkified(text) {
    var frag = document.createDocumentFragment();
    var re = /\bhttps?:\/\/[^\s<>"'）》]+/g, last = 0, m;
    while ((m = re.exec(text))) {
      frag.appendChild(document.createTextNode(text.slice(last, m.index)));
      var url = m[0].replace(/[.,;:!?，。；：！？)]+$/, "");
      frag.appendChild(el("a", { href: url, target: "_blank", rel: "noopener noreferrer", text: url }));
      last = m.index + url.length;
    }
    frag.appendChild(document.createTextNode(text.slice(last)));
    return frag;
  }

  function showGreeting() {
    if (greeting || list.children.length) return;
    greeting = el("li", { className: "note" }, [el("div", { className: "bubble", text: t.greeting })]);
    list.appendChild(greeting);
  }

  // Who wrote an answer: the agent's display name, or the bot, said to be one.
  function speaker(item) {
    return item.by === "bot" ? t.bot : (item.name || t.agent);
  }

  function metaText(item) {
    var when = timeOf(item.at);
    if (item.from === "agent") return speaker(item) + " · " + when;
    var states = { pending: t.sending, sent: t.sent, waiting: t.waiting, retrying: t.retrying };
    if (item.state === "failed") return t.failed + (item.reason || "");
    return when + " · " + (states[item.state] || t.sent);
  }

  function place(node, at) {
    var children = list.children;
    for (var i = children.length - 1; i >= 0; i--) {
      var other = Number(children[i].getAttribute("data-at") || 0);
      if (other <= at) {
        list.insertBefore(node, children[i].nextSibling);
        return;
      }
    }
    list.insertBefore(node, list.firstChild);
  }

  function upsert(item) {
    if (greeting) { greeting.remove(); greeting = null; }
    var known = shown[item.key];
    if (known) {
      for (var k in item) if (item[k] !== undefined) known[k] = item[k];
      known.meta.textContent = metaText(known);
      known.node.className = (known.from === "visitor" ? "mine" : "agent") + (known.state === "failed" ? " failed" : "");
      return false;
    }
    if (item.text === undefined) return false; // a state change for a message this tab never showed
    var bubble = el("div", { className: "bubble" });
    bubble.appendChild(linkified(item.text || ""));
    (item.attachments || []).forEach(function (a) {
      bubble.appendChild(document.createElement("br"));
      bubble.appendChild(el("a", { href: a.url, target: "_blank", rel: "noopener noreferrer", text: a.name || a.url }));
    });
    var who = item.from === "visitor" ? t.youSaid : t.saidPrefix.replace("{name}", speaker(item));
    var meta = el("div", { className: "meta" });
    var node = el("li", { className: item.from === "visitor" ? "mine" : "agent", "data-at": String(item.at) },
      [el("span", { className: "sr", text: who }), bubble, meta]);
    if (item.rating) node.appendChild(ratingRow(item));
    // Typed here and now: any rating request shown is answered or passed by. From the
    // server: those before it (server times on both sides, whatever this clock says).
    if (item.from === "visitor") closeRatings(item.local ? Infinity : item.at);
    item.node = node;
    item.meta = meta;
    meta.textContent = metaText(item);
    if (item.state === "failed") node.className += " failed";
    shown[item.key] = item;
    var atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    place(node, item.at);
    if (atBottom || item.from === "visitor") list.scrollTop = list.scrollHeight;
    return true;
  }

  // A rating request gets 1–5 buttons (typing the digit works as well); a button sends
  // the digit as the visitor's message. Once the visitor has said anything after the
  // request, its buttons are done.
  function ratingRow(item) {
    var row = el("div", { className: "rating", role: "group", "aria-label": t.rate });
    for (var n = item.rating.min || 1; n <= (item.rating.max || 5); n++) {
      var button = el("button", {
        type: "button", text: String(n), "aria-pressed": "false",
        "aria-label": t.rateN.replace("{n}", n) + " · " + (t.rateNames[n - 1] || "")
      });
      button.addEventListener("click", (function (score, chosen) {
        return function () {
          chosen.setAttribute("aria-pressed", "true");
          sendText(String(score));
        };
      })(n, button));
      row.appendChild(button);
    }
    row.setAttribute("data-at", String(item.at));
    for (var key in shown) {
      var other = shown[key];
      if (other.from === "visitor" && !other.local && other.at > item.at) { closeRow(row); break; }
    }
    return row;
  }
  function closeRow(row) {
    Array.prototype.forEach.call(row.querySelectorAll("button"), function (b) { b.disabled = true; });
  }
  function closeRatings(at) {
    Array.prototype.forEach.call(list.querySelectorAll(".rating"), function (row) {
      if (Number(row.getAttribute("data-at")) <= at) closeRow(row);
    });
  }

  function fromServer(view) {
    var mine = view.from === "visitor";
    return {
      key: mine && view.client_id ? "c:" + view.client_id : "m:" + view.id,
      id: view.id, from: mine ? "visitor" : "agent", text: view.text, name: view.name, by: view.by,
      at: Date.parse(view.at) || Date.now(), state: mine ? "sent" : undefined, attachments: view.attachments,
      rating: view.rating
    };
  }

  // --- the connection ---
  var ws = null;
  var ready = false;            // welcomed on the current socket
  var attempt = 0;
  var retryTimer = null;
  var flushTimer = null;
  var inflight = {};            // client ids sent on the current socket, awaiting ack or error
  var pending = load("pending", []);
  var profile = load("profile", {});
  var limits = { max_message_chars: 4000 };

  var available = null;         // GET /webchat/availability: {online, office_hours, reply_promise}

  function setState(name) {
    if (name === "online" && available && !available.online) name = "away";
    stateLine.setAttribute("data-state", name);
    stateText.textContent = t[name];
    var lines = name === "away" ? [available.office_hours, available.reply_promise].filter(Boolean) : [];
    notice.textContent = lines.join("\n");
    notice.hidden = !lines.length;
    if (name === "away") name = "online"; // connected: messages go out
    if (name !== "online") {
      pending.forEach(function (p) { if (shown["c:" + p.id]) upsert({ key: "c:" + p.id, state: "waiting" }); });
    }
  }

  function transmit(frame) {
    if (!ws || ws.readyState !== 1) return false;
    ws.send(JSON.stringify(frame));
    return true;
  }

  function connect() {
    if (ws && (ws.readyState === 0 || ws.readyState === 1)) return;
    clearTimeout(retryTimer);
    ready = false;
    setState("connecting");
    try { ws = new WebSocket(WS_URL); } catch (e) { scheduleReconnect(); return; }
    ws.onopen = function () {
      transmit({
        type: "hello", token: load("token", null), name: profile.name || null, email: profile.email || null,
        phone: profile.phone || null,
        language: lang, page: location.href, user_jwt: data.userJwt || null
      });
    };
    ws.onmessage = function (event) {
      var frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      handle(frame);
    };
    ws.onclose = function (event) {
      ready = false;
      inflight = {};
      ws = null;
      if (event.code === 4403) { forget("token"); attempt = 0; connect(); return; }
      if (event.code === 4401) { stateLine.setAttribute("data-state", "offline"); stateText.textContent = t.signedOut; return; }
      setState("offline");
      scheduleReconnect();
    };
  }

  function scheduleReconnect() {
    clearTimeout(retryTimer);
    var delay = Math.min(15000, 500 * Math.pow(2, attempt)) * (0.5 + Math.random());
    attempt += 1;
    retryTimer = setTimeout(connect, delay);
  }

  function flush() {
    clearTimeout(flushTimer);
    if (!ready) return;
    pending.forEach(function (p) {
      if (inflight[p.id]) return;
      if (transmit({ type: "message", id: p.id, text: p.text })) {
        inflight[p.id] = true;
        upsert({ key: "c:" + p.id, state: "pending" });
      }
    });
  }

  function dropPending(id) {
    pending = pending.filter(function (p) { return p.id !== id; });
    save("pending", pending);
    delete inflight[id];
  }

  function handle(frame) {
    switch (frame.type) {
      case "welcome":
        save("token", frame.token);
        limits = frame.limits || limits;
        input.setAttribute("maxlength", String(limits.max_message_chars));
        ready = true;
        attempt = 0;
        setState("online");
        checkAvailability();
        flush();
        break;
      case "history":
        (frame.messages || []).forEach(function (view) {
          var item = fromServer(view);
          if (view.client_id) dropPending(view.client_id);
          var added = upsert(item);
          if (added) receipt(view);
        });
        if (!list.children.length) showGreeting();
        flush();
        break;
      case "ack":
        dropPending(frame.id);
        upsert({ key: "c:" + frame.id, id: frame.message_id, state: "sent" });
        break;
      case "message":
        var view = frame.message || {};
        if (view.from === "agent") hideTyping();
        if (upsert(fromServer(view)) && view.from === "agent") {
          receipt(view);
          if (panel.hidden) { unread += 1; badge.textContent = String(unread); badge.hidden = false; }
        }
        break;
      case "error":
        onError(frame);
        break;
      case "resync":
        setTimeout(function () { transmit({ type: "history" }); }, Math.random() * 3000);
        break;
      case "identified":
        detailsHint.textContent = t.saved;
        break;
      case "typing":
        showTyping(frame);
        break;
    }
  }

  // Typing, both ways: the agent's shows under the messages for a few seconds (the console
  // repeats it while they type); the visitor's goes out at most every 2.5 s while they type.
  var typingTimer = null, typingSentAt = 0;
  function showTyping(frame) {
    if (frame.by !== "agent") return;
    typingLine.textContent = t.typing.replace("{name}", frame.name || t.agent);
    typingLine.hidden = false;
    clearTimeout(typingTimer);
    typingTimer = setTimeout(hideTyping, 6000);
  }
  function hideTyping() {
    clearTimeout(typingTimer);
    typingLine.hidden = true;
  }
  function sendTyping() {
    var now = Date.now();
    if (!ready || !input.value.trim() || now - typingSentAt < 2500) return;
    if (transmit({ type: "typing" })) typingSentAt = now;
  }

  function receipt(view) {
    if (view.from === "agent" && view.status !== "delivered" && view.status !== "read") {
      transmit({ type: "delivered", id: view.id });
    }
  }

  function onError(frame) {
    if (frame.code === "invalid_email") { detailsHint.textContent = t.badEmail; return; }
    if (frame.code === "invalid_phone") { detailsHint.textContent = t.badPhone; return; }
    if (!frame.id) {
      if (frame.retry_after && frame.code === "unavailable") {
        setTimeout(function () { transmit({ type: "history" }); }, frame.retry_after * 1000);
      }
      return;
    }
    delete inflight[frame.id];
    if (frame.retry_after) {
      upsert({ key: "c:" + frame.id, state: "retrying" });
      clearTimeout(flushTimer);
      flushTimer = setTimeout(flush, frame.retry_after * 1000 + Math.random() * 500);
      return;
    }
    // Refused for good (too long, empty): keep it on screen, marked, and stop resending.
    dropPending(frame.id);
    upsert({ key: "c:" + frame.id, state: "failed", reason: frame.message || frame.code });
  }

  // "Online" only while an agent of the visitor's queue is online; otherwise the office
  // hours and when a reply will come. Asked on connecting and every minute while open.
  function checkAvailability() {
    if (!window.fetch) return;
    var url = base + "/webchat/availability?lang=" + lang + (data.queue ? "&queue=" + encodeURIComponent(data.queue) : "");
    // With a conversation going, the token (in the body, never the URL) makes it the
    // queue the visitor waits in; as text/plain the request needs no preflight.
    var token = load("token", null);
    var init = token
      ? { method: "POST", body: token, headers: { "Content-Type": "text/plain" }, cache: "no-store", credentials: "omit" }
      : { cache: "no-store", credentials: "omit" };
    fetch(url, init)
      .then(function (resp) { return resp.ok ? resp.json() : null; })
      .then(function (body) {
        if (!body) return;
        available = body;
        if (ready) setState("online");
      })
      .catch(function () {});
  }
  setInterval(function () { if (ready && !panel.hidden) checkAvailability(); }, 60000);

  // --- what the visitor does ---
  function submit() {
    var text = input.value;
    if (!text.trim()) return;
    if (sendText(text)) {
      input.value = "";
      typingSentAt = 0; // what they type next is news
      grow();
    }
  }

  function sendText(text) {
    if (text.length > limits.max_message_chars) {
      detailsHint.textContent = "";
      input.setCustomValidity(t.tooLong.replace("{n}", limits.max_message_chars));
      input.reportValidity();
      return false;
    }
    input.setCustomValidity("");
    var entry = { id: newId(), text: text, at: Date.now() };
    pending.push(entry);
    save("pending", pending);
    upsert({ key: "c:" + entry.id, from: "visitor", text: text, at: entry.at, state: ready ? "pending" : "waiting", local: true });
    if (!ws) connect();
    flush();
    return true;
  }

  function grow() {
    input.style.height = "auto";
    input.style.height = Math.min(input.scrollHeight + 2, 130) + "px";
  }

  composer.addEventListener("submit", function (e) { e.preventDefault(); submit(); input.focus(); });
  // The console's rule (console/send-key.js): Enter sends and Shift+Enter is a new line, or
  // with data-send-key="ctrl-enter" only Ctrl/⌘+Enter sends; an Enter that confirms an IME
  // candidate (拼音) never sends.
  function sendsOn(e) {
    if (e.key !== "Enter" || e.isComposing || e.keyCode === 229) return false;
    return SEND_KEY === "ctrl-enter" ? (e.ctrlKey || e.metaKey) : (!e.shiftKey && !e.altKey);
  }
  input.addEventListener("keydown", function (e) {
    if (sendsOn(e)) {
      e.preventDefault();
      submit();
    }
  });
  input.addEventListener("input", function () { input.setCustomValidity(""); grow(); sendTyping(); });

  nameInput.value = profile.name || "";
  emailInput.value = profile.email || "";
  phoneInput.value = profile.phone || "";
  saveButton.addEventListener("click", function () {
    var email = emailInput.value.trim();
    var phone = phoneInput.value.trim();
    if (email && !/^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$/.test(email)) { detailsHint.textContent = t.badEmail; emailInput.focus(); return; }
    if (phone && !/^\+[0-9 ()\-]{6,30}$/.test(phone)) { detailsHint.textContent = t.badPhone; phoneInput.focus(); return; }
    profile = { name: nameInput.value.trim(), email: email, phone: phone };
    save("profile", profile);
    detailsHint.textContent = t.saved;
    transmit({ type: "identify", name: profile.name || null, email: profile.email || null, phone: profile.phone || null });
  });

  function open() {
    panel.hidden = false;
    launcher.setAttribute("aria-expanded", "true");
    launcher.classList.add("hide");
    unread = 0;
    badge.hidden = true;
    if (!ws) connect();
    if (!list.children.length) showGreeting();
    save("open", true);
    input.focus();
    list.scrollTop = list.scrollHeight;
  }
  function close() {
    panel.hidden = true;
    launcher.setAttribute("aria-expanded", "false");
    launcher.classList.remove("hide");
    save("open", false);
    launcher.focus();
  }
  launcher.addEventListener("click", function () { if (panel.hidden) open(); else close(); });
  closeButton.addEventListener("click", close);
  panel.addEventListener("keydown", function (e) { if (e.key === "Escape") close(); });
  window.addEventListener("online", function () { if (!ws) { attempt = 0; connect(); } });
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible" && !ws) { attempt = 0; connect(); }
  });

  // Messages typed before a reload and not yet acknowledged are shown and sent again.
  pending.forEach(function (p) {
    upsert({ key: "c:" + p.id, from: "visitor", text: p.text, at: p.at, state: "waiting" });
  });

  function mount() {
    document.body.appendChild(host);
    // A visitor with a conversation reconnects at once (replies show up, with a badge);
    // others only when they open the panel, so a page view costs no socket.
    if (data.open === "true" || load("open", false)) open();
    else if (load("token", null) || pending.length) connect();
  }
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);

  window.GatewayChat = { open: open, close: close };
})();
