// The kiosk's one state machine: attract → card read → menu → a task's steps → result → take the card →
// attract. Screens (screens.js) only show `screen` and call the actions here and in tasks.js (the tasks).
//
// A visit is one card in the reader. It ends — every trace of the patient dropped at once (state, the
// screen, the requests in flight) — when the card is removed, on the idle timeout, or on 退出. Before any
// commit the patient is told nothing was done and nothing charged; after a commit, what was done, with no
// personal data. A money request already sent is never abandoned: its answer decides what is said.

import { signal } from "@preact/signals";
import { ApiError, abortVisit, get } from "./api.js";
import { closeSoon } from "./closing.js";
import { guardianPlaced } from "./idnumber.js";
import { offer } from "./issuing.js";
import { say } from "./voice.js";

export const config = signal(null); // GET /v1/kiosk/session
export const screen = signal({ name: "starting" });
export const busy = signal(0); // requests the patient waits for: no idle timeout meanwhile
export const slow = signal(false); // a wait passed 10 s: say so
export const idle = signal(null); // null, or {remaining: seconds} while the warning shows
export const printerProblem = signal(null); // message_zh while the printer reports a problem
export const paused = signal(null); // why this kiosk cannot serve now (no SAM, no reader, no pcscd)
export const offered = signal(null); // GET /v1/payments/methods: how many steps a payment takes

let visit = null; // {cardId, name, reader?, idcard?, committed: [lines], moneyPending: 0}
let reader = "default";
let lastTouch = Date.now();
let idleTimer = null;
let countdownTimer = null;
let slowTimer = null;
let endTimer = null;

const NO_TIMEOUT = new Set([
  "starting", "attract", "reading", "paused", "removed", "card_problem", "working", "unlaunched",
  "pay_pin", "pay_processing", "pay_qr", "pay_cancelling", // a payment is under way: never ask, never end
  "issuing", // a card is being made
]);
// While these show, the kiosk waits for the patient (the PIN pad, the phone), not for the system.
const PATIENT_TURN = new Set(["pay_pin", "pay_qr"]);
let paymentListener = null; // paying.js, while a payment made at the kiosk is in flight
let issuanceListener = null; // issuing.js, while a card is being made

// -- screens ------------------------------------------------------------------------------------------

let shown = 0;

export function go(name, params = {}, prompt = name) {
  shown += 1;
  screen.value = { ...params, name, seq: shown, prompt };
  lastTouch = Date.now();
  idle.value = null;
  say(prompt);
  requestAnimationFrame(() => document.getElementById("screen-title")?.focus());
}

export function touched() {
  lastTouch = Date.now();
}

/** The visit now (null: no patient), and the reader this kiosk serves: for the tasks (tasks.js). */
export function currentVisit() {
  return visit;
}

export function readerId() {
  return visit?.reader || reader; // a visit by ID card names its reader: "idcard"
}

// -- start and events ----------------------------------------------------------------------------------

export async function start() {
  try {
    config.value = await get("/v1/kiosk/session", { visit: false });
  } catch (error) {
    if (error.status === 401 || error.status === 403) {
      lost();
      return false;
    }
    throw error;
  }
  reader = config.value.readers[0] || "default";
  try {
    offered.value = await get("/v1/payments/methods", { visit: false });
  } catch {
    offered.value = null; // asked again when the patient pays
  }
  idleTimer = setInterval(checkIdle, 1000);
  setInterval(keepSession, 10 * 60 * 1000); // the session lasts while it is used
  await resync();
  return true;
}

async function keepSession() {
  try {
    await get("/v1/kiosk/session", { visit: false });
  } catch (error) {
    if (error.status === 401) lost();
  }
}

/** The page's session is gone (revoked, or the daemon restarted): only the launcher can start it again. */
export function lost() {
  endVisit();
  go("unlaunched", {}, "service_paused");
  closeSoon();
}

/** Read the reader's state (at start, and after the event stream reconnected). */
export async function resync() {
  try {
    const sams = (await get("/v1/sams", { visit: false })).sams;
    const samProblem = sams.length === 0 || sams.some((sam) => !sam.present || sam.problem);
    paused.value = samProblem ? "sam" : null;
  } catch (error) {
    paused.value = error.code === "service_unavailable" ? "pcsc" : paused.value;
  }
  try {
    const printers = (await get("/v1/print/printers", { visit: false })).printers;
    const down = printers.find((printer) => !printer.ready);
    printerProblem.value = down ? down.problem?.message_zh || "打印机暂时不可用" : null;
  } catch {
    printerProblem.value = null;
  }
  if (paused.value) {
    endVisit();
    go("paused", {}, "service_paused");
    return;
  }
  let card = null;
  try {
    card = await get(`/v1/readers/${encodeURIComponent(reader)}/card`, { visit: false });
  } catch (error) {
    if (error.code === "reader_not_found" || error.code === "service_unavailable") {
      endVisit();
      paused.value = "reader";
      go("paused", {}, "service_paused");
      return;
    }
  }
  if (card && visit && visit.cardId === card.card_id) return; // the same card: carry on
  if (card) {
    cardInserted({ card_id: card.card_id, state: "ready" });
    return;
  }
  const idcard = await lyingIdCard();
  if (idcard && visit?.idcard && visit.cardId === idcard.card_id) return;
  if (idcard) {
    idcardPlaced(idcard);
  } else if (visit) {
    cardRemoved();
  } else if (!["attract", "removed"].includes(screen.value.name)) {
    go("attract");
  }
}

/** The ID card lying on this kiosk's ID-card reader now, if it has one. */
async function lyingIdCard() {
  try {
    return await get("/v1/idcard", { visit: false });
  } catch {
    return null; // none lies there, or this kiosk has no ID-card reader
  }
}

/** A patient without a health card puts the ID card down: a visit by ID card (reader "idcard"). */
async function idcardPlaced(event) {
  if (paused.value || (visit && !visit.idcard)) return; // a health card is in: it leads
  endVisit();
  go("reading");
  busy.value += 1;
  try {
    // The issuance service's terms alongside: the menu offers 办理健康卡 only if a card can be made now.
    const [person, terms] = await Promise.all([get("/v1/idcard", { timeout: 10000 }), offer()]);
    visit = { cardId: person.card_id, name: person.name || "", reader: "idcard", idcard: true, committed: [], moneyPending: 0, terms };
    go("menu", { patient: visit.name, idcard: true, terms });
  } catch (error) {
    if (error.code === "aborted") return;
    if (error.code === "idcard_no_card") go("attract");
    else go("card_problem", { code: error.code, messageZh: error.messageZh }, "card_error");
  } finally {
    busy.value = Math.max(0, busy.value - 1);
  }
}

export function onEvent(event) {
  switch (event.type) {
    case "card.inserted":
      cardInserted(event);
      break;
    case "card.removed":
      if (!visit?.idcard) cardRemoved();
      break;
    case "idcard.placed":
      if (visit && !visit.idcard) guardianPlaced(); // a guardian's, for the child's card in the reader
      else idcardPlaced(event);
      break;
    case "idcard.removed":
      if (visit?.idcard) cardRemoved();
      break;
    case "issuance.progress":
      if (issuanceListener) issuanceListener(event);
      break;
    case "card.error":
      if (paused.value) break; // the machine is at fault (no PSAM, no reader), not the card: stay paused
      endVisit();
      go("card_problem", { code: event.code }, "card_error");
      break;
    case "sam.removed":
    case "service.down":
      paused.value = event.type === "sam.removed" ? "sam" : "pcsc";
      endVisit();
      go("paused", {}, "service_paused");
      break;
    case "sam.inserted":
    case "service.up":
    case "reader.added":
      paused.value = null;
      resync();
      break;
    case "reader.removed":
      if (event.role === "card" || event.role === "sam") {
        paused.value = "reader";
        endVisit();
        go("paused", {}, "service_paused");
      }
      break;
    case "printer.problem":
      printerProblem.value = event.message_zh || "打印机暂时不可用";
      break;
    case "printer.ready":
      printerProblem.value = null;
      break;
    case "payment.progress":
      if (paymentListener) paymentListener(event);
      break;
    default:
  }
}

async function cardInserted(event) {
  if (paused.value) return;
  endVisit();
  if (event.state === "refused") {
    const code = event.code || "card_blacklisted";
    go("card_problem", { code }, code === "card_not_genuine" ? "card_not_genuine" : "card_blacklisted");
    return;
  }
  go("reading");
  busy.value += 1;
  try {
    const identity = await get(`/v1/readers/${encodeURIComponent(reader)}/card/identity`, { timeout: 20000 });
    // A card without an ID number is a child's, issued from the birth certificate: its number can be added.
    const child = !identity.id_number && Boolean(identity.card_number);
    visit = { cardId: identity.card_id, name: identity.name || "", committed: [], moneyPending: 0, child };
    go("menu", { patient: visit.name, child });
  } catch (error) {
    if (error.code === "aborted") return;
    if (error.code === "no_card" || error.code === "card_removed") {
      go("attract");
    } else if (error.code === "card_blacklisted" || error.code === "card_not_genuine") {
      go("card_problem", { code: error.code }, error.code);
    } else {
      go("card_problem", { code: error.code, messageZh: error.messageZh }, "card_error");
    }
  } finally {
    busy.value -= 1;
  }
}

function cardRemoved() {
  if (endTimer !== null) clearTimeout(endTimer);
  if (!visit) {
    if (!["attract", "paused", "unlaunched"].includes(screen.value.name)) go("attract");
    return;
  }
  const ending = visit;
  endVisit();
  if (ending.moneyPending > 0 || ending.issuing) {
    // The money (or card) request is still out: its answer says whether anything was charged (or made).
    go("removed", { lines: ending.committed, pending: true, idcard: ending.idcard, issuing: Boolean(ending.issuing) }, "working");
    ending.onSettled = () => showRemoved(ending);
    return;
  }
  showRemoved(ending);
}

function showRemoved(ending) {
  const done = ending.committed.length > 0;
  go("removed", { lines: ending.committed, pending: false, idcard: ending.idcard }, done ? "removed_after_commit" : "removed_nothing_done");
  endTimer = setTimeout(() => {
    endTimer = null;
    if (screen.value.name === "removed") go("attract");
  }, 10000);
}

/** Drop everything about the patient: requests in flight (but a money request), state, the screen's data. */
export function endVisit() {
  abortVisit();
  if (visit) {
    visit.ended = true;
    if (visit.onEnded) visit.onEnded(); // a payment in progress at the kiosk (paying.js)
  }
  visit = null;
  busy.value = 0;
  slow.value = false;
  idle.value = null;
  if (countdownTimer !== null) clearInterval(countdownTimer);
  countdownTimer = null;
}

/** 退出 / 结束办理: the patient is done; ask for the card. */
export function finish() {
  if (!visit) {
    go("attract");
    return;
  }
  const lines = visit.committed;
  visit.finished = true;
  go("take_card", { lines, idcard: visit.idcard }, "take_card");
}

// -- idle timeout -----------------------------------------------------------------------------------

function checkIdle() {
  const current = screen.value.name;
  if (!visit || busy.value > 0 || NO_TIMEOUT.has(current) || idle.value !== null) return;
  if (Date.now() - lastTouch < config.value.idle_seconds * 1000) return;
  // Counted against the clock, not in ticks: a busy or throttled page still ends on time.
  const deadline = Date.now() + config.value.warning_seconds * 1000;
  idle.value = { remaining: config.value.warning_seconds };
  say("idle_warning");
  countdownTimer = setInterval(() => {
    if (idle.value === null) return;
    const remaining = Math.ceil((deadline - Date.now()) / 1000);
    if (remaining > 0) {
      idle.value = { remaining };
      return;
    }
    const lines = visit ? visit.committed : [];
    endVisit();
    go("timed_out", { lines }, "take_card");
  }, 1000);
}

export function keepGoing() {
  if (countdownTimer !== null) clearInterval(countdownTimer);
  countdownTimer = null;
  idle.value = null;
  lastTouch = Date.now();
  say(screen.value.prompt || screen.value.name);
}

// -- waiting for the system -------------------------------------------------------------------------

/** `payment.progress` events go to *listener* (null: nobody listens). */
export function onPayment(listener) {
  paymentListener = listener;
}

/** `issuance.progress` events go to *listener* (null: nobody listens). */
export function onIssuance(listener) {
  issuanceListener = listener;
}

function startSlowTimer() {
  slow.value = false;
  if (slowTimer !== null) clearTimeout(slowTimer);
  slowTimer = setTimeout(() => {
    if (PATIENT_TURN.has(screen.value.name)) return; // the patient is at the PIN pad or the phone
    slow.value = true;
    say("slow");
  }, 10000);
}

/** A long task moved on (a payment's next stage): its 10 s before "slow" start again. */
export function stillWaiting() {
  if (busy.value > 0) startSlowTimer();
}

/** Run *task* while the patient waits: no idle timeout, and after 10 s the screen says it is slow. */
export async function waiting(task) {
  busy.value += 1;
  startSlowTimer();
  try {
    return await task();
  } finally {
    busy.value = Math.max(0, busy.value - 1);
    if (busy.value === 0) {
      clearTimeout(slowTimer);
      slow.value = false;
    }
  }
}

/** Load a screen's data; an error shows the error screen (nothing was done). */
export async function load(path, then) {
  const owner = visit;
  // A spinner after 1 s (after 10 s its text says the HIS is slow): no tap is met by a screen that ignores it.
  const spinner = setTimeout(() => {
    if (owner && visit === owner) go("working", { title: "正在查询" }, null);
  }, 1000);
  try {
    const data = await waiting(() => get(path, { cardId: owner?.cardId }));
    if (visit !== owner) return;
    then(data);
  } catch (error) {
    if (error.code === "aborted" || visit !== owner) return;
    failed(error, { done: [], notDone: ["本次未办理、未扣费"], retry: () => load(path, then) });
  } finally {
    clearTimeout(spinner);
  }
}

/** The error screen: what happened, what was and was not done, what to do next. */
export function failed(error, { done = [], notDone = [], unknown = [], retry = null, reference = null, prompt = null } = {}) {
  const code = error instanceof ApiError ? error.code : "internal_error";
  const his = code.startsWith("his_");
  go(
    "error",
    {
      code,
      messageZh: error instanceof ApiError ? error.messageZh : "系统出现问题",
      done,
      notDone,
      unknown,
      retry,
      reference,
    },
    prompt || (his ? "his_unavailable" : "error"),
  );
}

