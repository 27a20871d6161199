// The participant's session and calls to the hub's /v1/me API. The session token stays on this device.

const KEY = "burgerhub.session";

export function session() {
  return localStorage.getItem(KEY);
}

export function setSession(token) {
  if (token) localStorage.setItem(KEY, token);
  else localStorage.removeItem(KEY);
}

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.reason) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
    this.field = this.body.field;
    this.retryAfter = this.body.retry_after;
  }
}

export async function call(method, path, body, { auth = true, raw = false } = {}) {
  const headers = {};
  if (auth && session()) headers.Authorization = `Bearer ${session()}`;
  const init = { method, headers };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  if (raw && resp.ok) return resp;
  const text = await resp.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { reason: text };
  }
  if (!resp.ok) {
    if (resp.status === 401 && auth) setSession(null);
    throw new ApiError(resp.status, data);
  }
  return data;
}
