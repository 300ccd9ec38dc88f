// 办理健康卡 (自助发卡): a patient without a health card, known by the ID card on the reader, gets one from
// the kiosk's dispenser. consent (what is written on the card, the issuer, the fee) → phone number on the
// on-screen keypad → the card made (`issuance.progress` → the stages) → "take your card and your ID card".
// No photo step: this kiosk has no camera. No payment step: the payments API charges HIS bills and top-ups
// only, so a card with a fee is issued at the 人工窗口 (the menu says so) and a free one here.
//
// The issuance request is like a money request: once sent it is never abandoned (the card may be made);
// its answer decides what the patient is told, even when the ID card was taken off meanwhile (app.js).
// A journey is a list of steps and the body they fill: a newborn's (the guardian's ID card, the child's
// birth certificate: the body's `child`, steps before the consent in children.js) is another entry of
// JOURNEYS with its own steps, items, route and words.

import { signal } from "@preact/signals";
import { ApiError, get, post } from "./api.js";
import { busy, currentVisit, finish, go, onIssuance, readerId } from "./app.js";

const ISSUE_TIMEOUT_MS = 180000; // the dispenser, the card written and read back, presented: ~1 min, and margin
const MOBILE = /^1[3-9][0-9]{9}$/; // a mainland mobile number, as 本人电话

export const JOURNEYS = {
  self: { title: "办理居民健康卡", steps: ["consent", "phone"], path: "/v1/issuance", done: "已办理居民健康卡，请从出卡口取卡" },
  // The child's card carries the birth certificate's facts and the guardian (cardservice.issuance._newborn).
  child: {
    title: "为孩子办理居民健康卡",
    steps: ["letter", "digits", "child", "consent", "phone"],
    path: "/v1/issuance/child",
    items: ["姓名", "性别", "出生日期", "出生医学证明编号", "监护人姓名", "监护人电话"],
    done: "已为孩子办理居民健康卡，请从出卡口取卡",
  },
};

/** The phone number being typed (digits only; never sent anywhere before 确认). */
export const phoneDigits = signal("");
export const phoneProblem = signal("");

/** The issuance service's terms for this visit's menu (null: this kiosk cannot issue now). Asked when an
 *  ID-card visit starts, so the menu offers 办理健康卡 only when a card can be made. */
export async function offer() {
  try {
    return await get("/v1/issuance/terms", { timeout: 8000 });
  } catch {
    return null; // no [issuance], the service away, or the visit ended: not offered
  }
}

function journey(owner) {
  return JOURNEYS[owner.application?.kind || "self"];
}

export function step(owner, name) {
  const steps = journey(owner).steps;
  return { step: steps.indexOf(name) + 1, of: steps.length };
}

/** 办理健康卡 on the menu: the consent screen. */
export function start() {
  const owner = currentVisit();
  if (!owner?.terms || owner.issued) return;
  owner.application = { kind: "self" };
  consent(owner);
}

/** The consent screen of the visit's application (a child's: once the birth record is confirmed). */
export function consent(owner) {
  phoneDigits.value = "";
  phoneProblem.value = "";
  const { title, items } = journey(owner);
  const terms = items ? { ...owner.terms, items } : owner.terms;
  const child = owner.application.child || null;
  go("issue_consent", { terms, title, child, ...step(owner, "consent") }, "issue_consent");
}

/** 同意: on to the phone number. */
export function agree() {
  const owner = currentVisit();
  if (!owner?.application) return;
  owner.application.consent = true;
  phoneProblem.value = "";
  go("issue_phone", { ...step(owner, "phone"), child: Boolean(owner.application.child) }, "issue_phone");
}

export function backToConsent() {
  const owner = currentVisit();
  if (owner?.application) consent(owner);
}

export function typeDigit(digit) {
  phoneProblem.value = "";
  if (phoneDigits.value.length < 11) phoneDigits.value += digit;
}

export function eraseDigit() {
  phoneProblem.value = "";
  phoneDigits.value = phoneDigits.value.slice(0, -1);
}

export function clearDigits() {
  phoneProblem.value = "";
  phoneDigits.value = "";
}

/** 确认: the number checked here first (11 digits, a mobile), then the card is made. */
export function confirmPhone() {
  const owner = currentVisit();
  if (!owner?.application?.consent) return;
  const phone = phoneDigits.value;
  if (!MOBILE.test(phone)) {
    phoneProblem.value = phone.length === 11 ? "这不是有效的手机号码，请检查后重新输入" : `请输入11位手机号码（已输入${phone.length}位）`;
    return;
  }
  owner.application.phone = phone;
  issue(owner);
}

// -- the card made ----------------------------------------------------------------------------------------

const STAGES = {
  settling: ["正在准备发卡机", "issue_preparing"],
  dispensing: ["正在出卡", "issue_dispensing"],
  writing: ["正在写卡", "issue_writing"],
  verifying: ["正在核验", "issue_verifying"],
  presenting: ["请取卡", "issue_presenting"],
  capturing: ["正在回收卡片", "issue_capturing"],
};

function showStage(stage) {
  const [title, prompt] = STAGES[stage] || STAGES.dispensing;
  go("issuing", { stage: STAGES[stage] ? stage : "dispensing", title }, prompt);
}

async function issue(owner) {
  if (owner.issuing || owner.ended) return;
  owner.issuing = true;
  phoneDigits.value = ""; // the number leaves the screen: it is in the request now
  showStage("settling");
  onIssuance((event) => {
    if (!owner.ended && event.reader === readerId()) showStage(event.stage);
  });
  const { kind, phone, child } = owner.application;
  const body = { reader: readerId(), phone, consent: true };
  if (child) body.child = child; // exactly as the HIS gave it: the daemon checks it against the birth record
  let result = null;
  let failure = null;
  // Busy: no idle question meanwhile. Not app.waiting(): its "the hospital's system is slow" after 10 s
  // is not true of a card being written, which takes about a minute and says each stage.
  busy.value += 1;
  try {
    result = await post(JOURNEYS[kind].path, body, { cardId: owner.cardId, visit: false, timeout: ISSUE_TIMEOUT_MS });
  } catch (error) {
    failure = error instanceof ApiError ? error : new ApiError(0, "internal_error", "系统出现问题，请到人工窗口办理");
  } finally {
    onIssuance(null);
    owner.issuing = false;
    if (!owner.ended) busy.value = Math.max(0, busy.value - 1);
  }
  if (result) {
    owner.application = null; // the number is forgotten once the card is made; kept for 重试 otherwise
    // One card per person: the menu no longer offers the guardian's own; another child's stays offered.
    if (kind === "self") owner.issued = true;
    owner.committed.push(JOURNEYS[kind].done);
  }
  else if (UNKNOWN.has(failure.code)) owner.committed.push("发卡结果正在确认，请到人工窗口查询");
  if (owner.ended) {
    if (owner.onSettled) owner.onSettled(); // the ID card was taken meanwhile: the outcome is said there
    return;
  }
  if (result) {
    go("issued", { child: kind === "child" }, kind === "child" ? "issue_child_done" : "issue_done");
    return;
  }
  const said = failureWords(failure, kind);
  go("issue_failed", { ...said, code: failure.code, again: AGAIN.has(failure.code) }, said.prompt);
}

/** 重试 on a failure where trying again makes sense: the same person and number, a new card. */
export function again() {
  const owner = currentVisit();
  if (owner?.application?.phone) issue(owner);
}

/** 去人工窗口: the visit ends here, the patient is asked to take the ID card. */
export function toCounter() {
  finish();
}

// -- a failure in the patient's words -----------------------------------------------------------------------

// What the patient reads: the API's message_zh where it is theirs; the dispenser's codes carry words for staff
// (请补充卡片, 请清理卡道), so the patient hears what it means for them and staff read the code.
const WORDS = {
  issuance_has_card: { title: "您已有居民健康卡", prompt: "issue_has_card", next: "如卡片遗失或损坏，请到人工窗口办理挂失、补卡" },
  issuance_refused: { title: "暂不能自助办卡", prompt: "issue_refused" },
  issuance_invalid_person: { title: "暂不能自助办卡", prompt: "issue_refused" },
  issuance_card_spoiled: { title: "制卡失败", prompt: "issue_spoiled" },
  issuance_busy: { title: "本机正在发卡", prompt: "issue_failed" },
  dispenser_empty: { title: "暂时无法发卡", words: "本机的健康卡已发完", prompt: "issue_machine" },
  dispenser_jam: { title: "暂时无法发卡", words: "发卡机暂时故障", prompt: "issue_machine" },
  dispenser_timeout: { title: "暂时无法发卡", words: "发卡机暂时故障", prompt: "issue_machine" },
  dispenser_protocol: { title: "暂时无法发卡", words: "发卡机暂时故障", prompt: "issue_machine" },
  dispenser_fault: { title: "暂时无法发卡", words: "发卡机暂时故障", prompt: "issue_machine" },
  card_changed: { title: "身份证已更换", words: "阅读器上的身份证与开始办理时不同，请重新放置本人身份证后再办理", prompt: "issue_failed" },
  idcard_no_card: { title: "请放回身份证", words: "办理期间请将身份证放在阅读区", prompt: "issue_failed" },
};
// Whether a card may have been made: the answer never came.
const UNKNOWN = new Set(["kiosk_timeout", "network_error", "issuance_interrupted"]);
// Where the same request again can succeed.
const AGAIN = new Set(["issuance_card_spoiled", "issuance_busy"]);

// A child's application: the same failures, but about the child.
const CHILD_WORDS = {
  issuance_has_card: { title: "这个孩子已有居民健康卡", prompt: "issue_child_has_card", next: "如卡片遗失或损坏，请到人工窗口办理挂失、补卡" },
  his_not_found: { title: "未找到孩子的出生记录", prompt: "issue_birth_not_found" },
};

function failureWords(error, kind = "self") {
  const known = (kind === "child" && CHILD_WORDS[error.code]) || WORDS[error.code] || {};
  const unknown = UNKNOWN.has(error.code);
  return {
    title: known.title || (unknown ? "发卡结果正在确认" : "未能办理健康卡"),
    words: known.words || (unknown ? "请不要重复办理，请到人工窗口查询本次发卡结果" : error.messageZh || "发卡失败"),
    next: known.next || null,
    prompt: known.prompt || (unknown ? "issue_unknown" : "issue_failed"),
  };
}
