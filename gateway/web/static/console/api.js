/* The API client: bearer token, JSON in and out, errors as ApiError. */
import { emit } from "./hooks.js";
import { t } from "./i18n.js";
import { state } from "./state.js";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export async function api(method, path, body) {
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
    if (resp.status === 401 && state.principal) emit("unauthorized");
    throw new ApiError(resp.status, error.code || String(resp.status), error.message || resp.statusText);
  }
  return data;
}
