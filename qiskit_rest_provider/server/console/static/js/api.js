// The public REST API, used exactly as the clients use it: an API key is traded for a bearer
// token at /identity/token, and every call carries the token and the instance's Service-CRN.
// Only the token and the instance are kept, in sessionStorage (gone with the tab); the API key
// is never stored, and nothing secret ever goes into a URL.

const STORAGE_KEY = "qiskit-rest-console";
const APIKEY_GRANT = "urn:ibm:params:oauth:grant-type:apikey";
// Paths are relative to the page, so the console works wherever the service is mounted.
const API = "api/v1";

/** An error answer of the service (or status 0: it could not be reached). */
export class ApiError extends Error {
  constructor(status, code, message, trace) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.trace = trace;
  }
}

async function errorFrom(response) {
  let body = null;
  const text = await response.text();
  try {
    body = JSON.parse(text);
  } catch {
    body = null;
  }
  if (body && Array.isArray(body.errors) && body.errors.length) {
    const first = body.errors[0];
    return new ApiError(response.status, first.code, first.message, body.trace);
  }
  if (body && body.errorMessage) {
    return new ApiError(response.status, body.errorCode, body.errorMessage);
  }
  return new ApiError(response.status, "http_error", text.slice(0, 300) || response.statusText);
}

async function send(url, init) {
  try {
    return await fetch(url, { credentials: "omit", cache: "no-store", ...init });
  } catch (error) {
    if (error && error.name === "AbortError") throw error;
    throw new ApiError(0, "unreachable", "The service cannot be reached.");
  }
}

let current = null;
const listeners = new Set();

function load() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(STORAGE_KEY) || "null");
    if (saved && saved.token && saved.instance && saved.expiration * 1000 > Date.now()) {
      return saved;
    }
  } catch {
    // A broken entry is as good as none.
  }
  sessionStorage.removeItem(STORAGE_KEY);
  return null;
}

function save() {
  if (current) sessionStorage.setItem(STORAGE_KEY, JSON.stringify(current));
  else sessionStorage.removeItem(STORAGE_KEY);
  listeners.forEach((listener) => listener(current));
}

current = load();

let signOutReason = "";

/** The signed-in session ({token, expiration, instance, instances, apiVersion}) or null. An
 * expired one is forgotten (and the page re-rendered, to sign in again). */
export function session() {
  if (current && current.expiration * 1000 <= Date.now()) {
    signOutReason = "Your session has expired: sign in again.";
    current = null;
    sessionStorage.removeItem(STORAGE_KEY);
    queueMicrotask(() => listeners.forEach((listener) => listener(null)));
  }
  return current;
}

/** Call `listener(session)` whenever the session changes (sign in, sign out, instance). */
export function onSessionChange(listener) {
  listeners.add(listener);
}

/** Forget the token (the reason is shown on the sign-in page). */
export function signOut(reason = "") {
  signOutReason = reason;
  current = null;
  save();
}

/** Why the last session ended ("" if the person signed out or nobody signed in yet). */
export function lastSignOutReason() {
  return signOutReason;
}

/** Use another of the key's instances. */
export function selectInstance(crn) {
  if (current && current.instances.some((instance) => instance.crn === crn)) {
    current = { ...current, instance: crn };
    save();
  }
}

async function discoverInstances(token) {
  // IBM Cloud Global Search, as the clients use it to find the key's instances.
  const response = await send("v3/resources/search?limit=100", {
    method: "POST",
    headers: {
      Authorization: `Bearer ${token}`,
      "Content-Type": "application/json",
      Accept: "application/json",
    },
    body: JSON.stringify({
      query: "service_name:quantum-computing",
      fields: ["crn", "name"],
    }),
  });
  if (!response.ok) return null;
  const body = await response.json();
  return (body.items || [])
    .filter((item) => typeof item.crn === "string")
    .map((item) => ({ crn: item.crn, name: item.name || item.crn }));
}

async function newestVersion() {
  try {
    const response = await send(`${API}/versions`, { headers: { Accept: "application/json" } });
    if (!response.ok) return null;
    const versions = (await response.json()).versions || [];
    const names = versions
      .map((v) => (typeof v === "string" ? v : v && v.status !== "deprecated" ? v.version : null))
      .filter((v) => typeof v === "string" && /^\d{4}-\d{2}-\d{2}$/.test(v))
      .sort();
    return names.length ? names[names.length - 1] : null;
  } catch {
    return null;
  }
}

/**
 * Sign in with an API key (and an instance CRN, or none to use the key's first instance).
 * Checks the instance with GET /v1/instances/usage before keeping anything.
 */
export async function signIn(apiKey, instance) {
  const form = new URLSearchParams({ grant_type: APIKEY_GRANT, apikey: apiKey });
  const response = await send("identity/token", {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
    body: form.toString(),
  });
  if (!response.ok) throw await errorFrom(response);
  const token = await response.json();
  let instances = await discoverInstances(token.access_token);
  if (instance) {
    if (!instances || !instances.some((item) => item.crn === instance)) {
      instances = [...(instances || []), { crn: instance, name: instance }];
    }
  } else if (!instances) {
    throw new ApiError(
      400,
      "instance_required",
      "This service does not list the key's instances: enter the instance CRN.",
    );
  } else if (!instances.length) {
    throw new ApiError(403, "no_instance", "This API key may not use any instance.");
  }
  const chosen = instance || instances[0].crn;
  const candidate = {
    token: token.access_token,
    expiration: Number(token.expiration) || Math.floor(Date.now() / 1000) + 3600,
    instance: chosen,
    instances,
    apiVersion: await newestVersion(),
  };
  await request("/instances/usage", {}, candidate);
  signOutReason = "";
  current = candidate;
  save();
  return current;
}

/**
 * One call of the REST API: request("/jobs", {query, method, body, as: "json"|"text"}).
 * Answers the parsed JSON (or text), or null for 204. A 401 ends the session.
 */
export async function request(path, options = {}, use = null) {
  const who = use || session();
  if (!who) throw new ApiError(401, "signed_out", "Sign in first.");
  const url = new URL(`${API}${path}`, document.baseURI);
  for (const [key, value] of Object.entries(options.query || {})) {
    if (value === undefined || value === null || value === "") continue;
    if (Array.isArray(value)) value.forEach((item) => url.searchParams.append(key, item));
    else url.searchParams.set(key, String(value));
  }
  const headers = {
    Authorization: `Bearer ${who.token}`,
    "Service-CRN": who.instance,
    Accept: options.as === "text" ? "*/*" : "application/json",
  };
  if (who.apiVersion) headers["IBM-API-Version"] = who.apiVersion;
  const init = { method: options.method || "GET", headers, signal: options.signal };
  if (options.body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(options.body);
  }
  const response = await send(url, init);
  if (response.status === 401 && !use) {
    const error = await errorFrom(response);
    signOut(
      error.code === "token_expired"
        ? "Your session has expired: sign in again."
        : "The service no longer accepts this session: sign in again.",
    );
    throw error;
  }
  if (!response.ok) throw await errorFrom(response);
  if (response.status === 204) return null;
  if (options.as === "text") return response.text();
  if (options.as === "response") return response;
  return response.json();
}
