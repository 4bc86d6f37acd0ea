// The REST API client: JSON in and out, the CSRF header on unsafe requests, and one
// place that notices when the session has ended (401).

const BASE = new URL("api/v1/", document.baseURI);
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);
export const CSRF_COOKIE = "dllab_csrf";
export const CSRF_HEADER = "X-CSRF-Token";

export class ApiError extends Error {
  constructor(status, detail, reason = null) {
    super(detail);
    this.name = "ApiError";
    this.status = status;
    this.reason = reason;
    // True once the 401 handler has taken over (the page is about to change): callers
    // should then stay quiet instead of showing the error.
    this.handled = false;
  }
}

let unauthorizedHandler = null;

/** Called with the ApiError whenever a request answers 401 (unless it opts out). */
export function onUnauthorized(handler) {
  unauthorizedHandler = handler;
}

export function readCookie(name) {
  for (const part of document.cookie.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return null;
}

function describe(data, response) {
  const detail = data && data.detail;
  if (typeof detail === "string" && detail) return detail;
  if (Array.isArray(detail)) return detail.map((d) => d.msg || JSON.stringify(d)).join("; ");
  if (detail) return JSON.stringify(detail);
  return `${response.status} ${response.statusText || "error"}`.trim();
}

/**
 * Call the API. `path` is relative to /api/v1 ("hosts", "tokens/3").
 * Options: method, body (sent as JSON), raw (a Blob or File sent as it is, such as a
 * .tar.gz), text (answer the body as text: logs), redirectOn401 (default true).
 * Answers the parsed JSON (null for 204), or the text; throws ApiError with the server's
 * `detail`.
 */
export async function api(path, { method = "GET", body, raw, text = false,
  redirectOn401 = true } = {}) {
  const headers = { Accept: text ? "text/plain" : "application/json" };
  const init = { method, headers, credentials: "same-origin", cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  } else if (raw !== undefined) {
    headers["Content-Type"] = "application/octet-stream";
    init.body = raw;
  }
  if (!SAFE_METHODS.has(method)) {
    const csrf = readCookie(CSRF_COOKIE);
    if (csrf) headers[CSRF_HEADER] = csrf;
  }
  let response;
  try {
    response = await fetch(new URL(path.replace(/^\/+/, ""), BASE), init);
  } catch {
    throw new ApiError(0, "The control plane cannot be reached. Check that it runs and try again.",
      "network");
  }
  if (response.ok && text) return response.text();
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) {
    const error = new ApiError(response.status, describe(data, response), data && data.reason);
    if (response.status === 401 && redirectOn401 && unauthorizedHandler) {
      error.handled = true;
      unauthorizedHandler(error);
    }
    throw error;
  }
  return data;
}
