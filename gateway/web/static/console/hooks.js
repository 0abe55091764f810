/* Named hooks a view registers on (on) and the page calls (emit): "workspace" when the
 * workspace opens after sign-in, "signout", "language" after the language changed,
 * "refresh" when everything is reloaded, "event" with each live-feed frame, "pane" with the
 * conversation each time its pane is drawn, and
 * "unauthorized" when the API refused the token.
 */

const handlers = {};

export function on(name, fn) {
  (handlers[name] = handlers[name] || []).push(fn);
}

export function emit(name, ...args) {
  for (const fn of handlers[name] || []) fn(...args);
}
