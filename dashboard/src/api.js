// Calls to central's API on the same origin, always with the read token (issue 4's bearer
// tokens) when one is set. The token lives in sessionStorage only, never in the URL.

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
 * and remove it from the address bar and history. */
export function adoptTokenFromFragment() {
  const params = new URLSearchParams(location.hash.replace(/^#/, ""));
  const given = params.get("token");
  if (given === null) return;
  setToken(given);
  params.delete("token");
  history.replaceState(null, "", `${location.pathname}${location.search}#${params}`);
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
  const response = await fetch(url(path, params), { cache: "no-store", ...init, headers: { ...headers(), ...init.headers } });
  if (!response.ok) {
    let detail = response.statusText;
    try {
      detail = (await response.json()).detail ?? detail;
    } catch {
      // not JSON: keep the status text
    }
    throw new ApiError(response.status, String(detail));
  }
  return response;
}

export async function getJson(path, params) {
  return (await request(path, params)).json();
}

export async function getText(path, params) {
  return (await request(path, { ...params, format: "csv" })).text();
}

/** A file the API answers (a report), as a Blob. */
export async function getBlob(path, params) {
  return (await request(path, params)).blob();
}

/** POST a JSON body; the answer's JSON. */
export async function postJson(path, body) {
  const init = { method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" } };
  return (await request(path, {}, init)).json();
}
