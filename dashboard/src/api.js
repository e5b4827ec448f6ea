// Calls to central's API on the same origin: with the read token when one was given by a token
// link (it lives in sessionStorage only, never in the URL), else with the sign-in session's
// HttpOnly cookie, which the browser sends by itself (same-origin fetch).

const TOKEN_KEY = "canteen.token";

export class ApiError extends Error {
  constructor(status, detail) {
    super(`${status}: ${detail}`);
    this.status = status;
    this.detail = detail;
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** Take a `token=` from the URL fragment (a ready link printed by the demo) into sessionStorage,
 * and remove it from the address bar and history; true when there was one. */
export function adoptTokenFromFragment() {
  const params = new URLSearchParams(location.hash.replace(/^#/, ""));
  const given = params.get("token");
  if (given === null) return false;
  setToken(given);
  params.delete("token");
  history.replaceState(null, "", `${location.pathname}${location.search}#${params}`);
  return true;
}

function headers() {
  const value = token();
  return value ? { Authorization: `Bearer ${value}` } : {};
}

function url(path, params) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params || {})) {
    if (value !== null && value !== undefined && value !== "") query.set(key, value);
  }
  const text = query.toString();
  return `../api/v1${path}${text ? `?${text}` : ""}`;
}

async function request(path, params, init = {}) {
  const response = await fetch(url(path, params), {
    cache: "no-store",
    credentials: "same-origin",
    ...init,
    headers: { ...headers(), ...(init.headers || {}) },
  });
  if (!response.ok) {
    let detail = response.statusText;
    try {
      detail = (await response.json()).detail ?? detail;
    } catch {
      // not JSON: keep the status text
    }
    const error = new ApiError(response.status, String(detail));
    error.retryAfterS = Number(response.headers.get("Retry-After")) || 0;
    throw error;
  }
  return response;
}

export async function getJson(path, params) {
  return (await request(path, params)).json();
}

/** The API's CSV for people (UTF-8 with BOM, rounded, header in `lang`), as a Blob: the BOM
 * stays (text() would drop it). */
export async function getCsv(path, params, lang) {
  return (await request(path, { ...params, format: "csv", lang })).blob();
}

/** POST a JSON body (sign-in, sign-out, acknowledging an alert); the answer's JSON, or null when it has none. */
export async function postJson(path, body) {
  const response = await request(path, {}, {
    method: "POST",
    body: body === undefined ? undefined : JSON.stringify(body),
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
  });
  return response.status === 204 ? null : response.json();
}

/** A file the API answers (a report), as a Blob. */
export async function getBlob(path, params) {
  return (await request(path, params)).blob();
}
