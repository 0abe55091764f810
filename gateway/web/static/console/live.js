/* The live feed: the socket, its badge, and what each event reloads. */
import { refreshMe } from "./agent.js";
import { refreshPane } from "./conversation.js";
import { $, show } from "./dom.js";
import { emit } from "./hooks.js";
import { t } from "./i18n.js";
import { refreshOps } from "./ops.js";
import { refreshAll, schedule, signOut } from "./session.js";
import { state } from "./state.js";

let liveState = "connecting";

export function renderLive() {
  const node = $("live");
  node.textContent = t(liveState);
  node.className = `live ${liveState}`;
  show(node, Boolean(state.principal));
}

export function setLive(value) {
  liveState = value;
  renderLive();
}

export function closeSocket() {
  if (state.socket) {
    const socket = state.socket;
    state.socket = null;
    socket.onclose = null;
    socket.close(1000);
  }
  clearTimeout(state.timers.reconnect);
}

export function connectSocket() {
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
      // An event came through the feed: it is live, whatever "ready" said before the
      // feed had subscribed.
      if (liveState !== "live") setLive("live");
      onEvent(frame);
    } else if (frame.type === "resync") {
      if (typeof frame.live === "boolean") setLive(frame.live ? "live" : "noFeed");
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

export function onEvent(frame) {
  const role = state.principal && state.principal.role;
  if (!role) return;
  emit("event", frame);
  if (frame.event === "conversation.typing") return; // a signal (console/typing.js), not a change to reload
  const current = state.current;
  const concernsCurrent =
    current &&
    (frame.conversation_id === current.id ||
      (frame.contact_id && state.contact && frame.contact_id === state.contact.id) ||
      state.others.some((c) => c.id === frame.conversation_id));
  // conversation.opened: the first message may ride in it (broker.inbound_in_opened).
  const arrived = frame.event === "message.inbound" || frame.event === "conversation.opened";
  if (arrived && frame.conversation_id && !(current && frame.conversation_id === current.id)) {
    state.unread.add(frame.conversation_id);
  }
  if (concernsCurrent) schedule("pane", refreshPane, 150);
  if (role === "agent") schedule("me", refreshMe, 200);
  else schedule("ops", () => refreshOps(false), 300);
}
