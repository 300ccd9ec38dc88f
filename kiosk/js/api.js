// The daemon's /v1 API, as the kiosk page uses it: same origin, authenticated by the session cookie the
// launch URL set (never a key in the page). Every request of a patient's visit can be aborted at once
// (card removed, timeout, 退出) — except a money request already sent: its outcome is the patient's
// money, so it is always waited for and shown (see app.js).

export class ApiError extends Error {
  constructor(status, code, messageZh, details = {}) {
    super(`${status} ${code}`);
    this.status = status;
    this.code = code;
    this.messageZh = messageZh;
    this.details = details;
  }
}

const NETWORK = { code: "network_error", zh: "无法连接本机服务，请到人工窗口办理" };
const TIMEOUT = { code: "kiosk_timeout", zh: "系统响应超时" };

const visitRequests = new Set(); // AbortControllers of the current visit's requests

/** Abort every request of the visit that is not a money request already sent. */
export function abortVisit() {
  for (const controller of visitRequests) controller.abort();
  visitRequests.clear();
}

let sequence = 0;
/** A key for one confirmation: the same for every tap of that confirmation, new for the next. */
export function idempotencyKey(what) {
  sequence += 1;
  const random = crypto.getRandomValues(new Uint32Array(2));
  return `kiosk-${what}-${Date.now().toString(36)}-${sequence}-${random[0].toString(36)}${random[1].toString(36)}`;
}

/**
 * One request. `visit`: part of the patient's visit (aborted with it); `timeout` in ms (a request that
 * takes longer fails with kiosk_timeout, never hangs the screen); `cardId`: the card the patient inserted
 * (the daemon refuses if another card is in now); `key`: Idempotency-Key; `timing`: an object whose
 * `until(epochMs)` this sets, to move the timeout while the request runs (a payment the patient makes at
 * the kiosk lasts as long as its PIN entry or its QR code: the daemon says how long as it goes).
 */
export async function request(method, path, { body, visit = true, timeout = 20000, cardId, key, timing } = {}) {
  const controller = new AbortController();
  if (visit) visitRequests.add(controller);
  let timedOut = false;
  const expire = () => {
    timedOut = true;
    controller.abort();
  };
  let timer = setTimeout(expire, timeout);
  if (timing) {
    timing.until = (at) => {
      clearTimeout(timer);
      timer = setTimeout(expire, Math.max(0, at - Date.now()));
    };
  }
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (cardId) headers["X-Card-Id"] = cardId;
  if (key) headers["Idempotency-Key"] = key;
  try {
    let response;
    try {
      response = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: controller.signal,
        credentials: "same-origin",
        cache: "no-store",
      });
    } catch (error) {
      if (timedOut) throw new ApiError(0, TIMEOUT.code, TIMEOUT.zh);
      if (controller.signal.aborted) throw new ApiError(0, "aborted", "");
      throw new ApiError(0, NETWORK.code, NETWORK.zh);
    }
    let payload = null;
    try {
      payload = await response.json();
    } catch {
      payload = null;
    }
    if (!response.ok) {
      const error = (payload && payload.error) || {};
      throw new ApiError(
        response.status,
        error.code || `http_${response.status}`,
        error.message_zh || "系统出现问题，请到人工窗口办理",
        error.details || {},
      );
    }
    return payload;
  } finally {
    clearTimeout(timer);
    if (timing) timing.until = () => {};
    visitRequests.delete(controller);
  }
}

export const get = (path, options) => request("GET", path, options);
export const post = (path, body, options) => request("POST", path, { ...options, body });
export const put = (path, body, options) => request("PUT", path, { ...options, body });
