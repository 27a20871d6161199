// The hub's HTTP API with the signed-in bearer token. The token lives in sessionStorage: it is gone
// when the tab closes, and other tabs or sites cannot read it.

const TOKEN_KEY = "burgerhub.console.token";

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.reason || body?.error || `HTTP ${status}`);
    this.status = status;
    this.error = body?.error || "";
    this.reason = body?.reason || this.message;
    this.field = body?.field || null;
    this.errors = body?.errors || [];
  }
}

const unauthorized = new Set();

export function onUnauthorized(fn) {
  unauthorized.add(fn);
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** fetch with the bearer token; JSON in and out. Non-2xx answers throw an ApiError with the reason. */
export async function request(method, path, { json, body, contentType, withToken, quiet401 } = {}) {
  const headers = {};
  const bearer = withToken ?? token();
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  let payload = body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(json);
  } else if (contentType) {
    headers["Content-Type"] = contentType;
  }
  let resp;
  try {
    resp = await fetch(path, { method, headers, body: payload, cache: "no-store", credentials: "omit" });
  } catch (e) {
    throw new ApiError(0, { error: "network", reason: e.message || String(e) });
  }
  if (resp.status === 204) return null;
  const type = resp.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await resp.json().catch(() => null) : null;
  if (!resp.ok) {
    const err = new ApiError(resp.status, data || { error: `http_${resp.status}`, reason: resp.statusText });
    if (resp.status === 401 && !quiet401) for (const fn of unauthorized) fn(err);
    throw err;
  }
  return data;
}

export const get = (path, opts) => request("GET", path, opts);
export const post = (path, json, opts) => request("POST", path, { ...opts, json });
export const patch = (path, json, opts) => request("PATCH", path, { ...opts, json });

/** A protected file (a tip's photo, a table to download) as an object URL, since <img> and
 * <a download> cannot send the token. */
export async function objectUrl(path) {
  const resp = await fetch(path, { headers: { Authorization: `Bearer ${token()}` }, cache: "no-store" });
  if (!resp.ok) throw new ApiError(resp.status, await resp.json().catch(() => ({ reason: resp.statusText })));
  return URL.createObjectURL(await resp.blob());
}

/** An action photo's URL on this hub: photos are stored with the hub's public URL in front. */
export function photoSrc(url) {
  const at = url.indexOf("/v1/photos/");
  return at >= 0 ? url.slice(at) : url;
}
