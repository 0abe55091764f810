/* What the page knows: the signed-in principal, the open conversation, the live socket. */

export const TOKEN_KEY = "gateway.console.token"; // sessionStorage: this tab only
export const LANG_KEY = "gateway.console.lang"; // localStorage: a preference, not a secret
export const REFRESH_MS = 30000; // safety net: the live feed is best-effort and may drop an event
export const CHANNELS = ["api", "email", "sms", "voice", "webchat", "whatsapp", "messenger", "instagram", "telegram", "wechat"];
export const HISTORY_CONVERSATIONS = 8; // other conversations of the contact whose messages join the history

export const state = {
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
  agentNames: {}, // agent id → display name (auth.tokens[].name), from /api/v1/me
  socket: null,
  socketBackoff: 1000,
  timers: {},
};

// An agent's display name, for an id the API gives (assignee, sender).
export const agentName = (id) => (id && state.agentNames[id]) || id;
