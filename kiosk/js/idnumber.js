// 登记孩子身份证号: a child's health card (one without an ID number: issued from the birth certificate) is in
// the reader; the guardian it is linked to lays their ID card down, types the child's new ID number, and
// the daemon records it (the issuance service's registry, then the card's DF01/EF08). Every refusal is
// shown with the daemon's own words (message_zh) and its code.

import { signal } from "@preact/signals";
import { ApiError, get, put } from "./api.js";
import { busy, currentVisit, go, readerId, screen } from "./app.js";

const LENGTH = 18;
const WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK = "10X98765432";
const POLL_MS = 1500; // the ID card's event may come before this screen listens: the reader is also asked

export const idChars = signal("");
export const idProblem = signal("");

let watch = 0; // the one watch of the reader that may go on (a newer one ends the older)

/** 登记孩子身份证号 on the menu: the guardian's ID card first. */
export function start() {
  const owner = currentVisit();
  if (!owner?.child) return;
  owner.guardianCardId = null;
  go("idnum_guardian", { refused: Boolean(owner.refusedCardId) }, "idnum_guardian");
  watchGuardian(owner);
}

/** Wait, on the screen that asks for it, until an ID card lies on the reader: its card_id is the guardian's
 *  (one the daemon just refused as not the guardian's is passed over while it lies there). */
async function watchGuardian(owner) {
  watch += 1;
  const mine = watch;
  const current = () => mine === watch && !owner.ended && screen.value.name === "idnum_guardian";
  while (current()) {
    let card = null;
    try {
      card = await get("/v1/idcard", { timeout: 8000 });
    } catch (error) {
      if (error.code === "aborted") return;
      card = null; // none lies there yet
    }
    if (!current()) return;
    if (card?.card_id && card.card_id !== owner.refusedCardId) {
      owner.guardianCardId = card.card_id;
      enterNumber();
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** `idcard.placed` during a health-card visit (app.js): look now rather than at the next poll. */
export function guardianPlaced() {
  const owner = currentVisit();
  if (owner && screen.value.name === "idnum_guardian") watchGuardian(owner);
}

function enterNumber() {
  idChars.value = "";
  idProblem.value = "";
  go("idnum_entry", {}, "idnum_entry");
}

export function typeChar(char) {
  idProblem.value = "";
  const typed = idChars.value;
  if (typed.length >= LENGTH) return;
  if (char === "X" && typed.length !== LENGTH - 1) {
    idProblem.value = "字母X只能是身份证号码的最后一位";
    return;
  }
  idChars.value = typed + char;
}

export function eraseChar() {
  idProblem.value = "";
  idChars.value = idChars.value.slice(0, -1);
}

export function clearChars() {
  idProblem.value = "";
  idChars.value = "";
}

/** The GB 11643 check character: a mistyped digit is found here, before anything is sent. */
export function checkCharacter(first17) {
  let total = 0;
  for (let i = 0; i < 17; i += 1) total += Number(first17[i]) * WEIGHTS[i];
  return CHECK[total % 11];
}

/** 确认登记: the number checked here (length, check character), then recorded by the daemon. */
export async function submit() {
  const owner = currentVisit();
  if (!owner?.child || !owner.guardianCardId || owner.recording) return;
  const number = idChars.value;
  if (number.length !== LENGTH) {
    idProblem.value = `请输入18位身份证号码（已输入${number.length}位）`;
    return;
  }
  if (checkCharacter(number.slice(0, 17)) !== number[17]) {
    idProblem.value = "号码有误（校验位不符），请核对后重新输入";
    return;
  }
  owner.recording = true;
  go("working", { title: "正在登记" }, "working");
  busy.value += 1;
  let result = null;
  let failure = null;
  try {
    const body = { id_number: number, guardian_reader: "idcard", guardian_card_id: owner.guardianCardId };
    result = await put(`/v1/issuance/reader/${encodeURIComponent(readerId())}/id-number`, body, { cardId: owner.cardId, timeout: 30000 });
  } catch (error) {
    failure = error instanceof ApiError ? error : new ApiError(0, "internal_error", "系统出现问题，请到人工窗口办理");
  } finally {
    owner.recording = false;
    if (!owner.ended) busy.value = Math.max(0, busy.value - 1);
  }
  if (owner.ended || failure?.code === "aborted") return;
  idChars.value = ""; // the number leaves the screen either way
  if (result) {
    owner.child = false; // the card now carries the number: the menu no longer offers it
    owner.committed.push("已登记孩子的身份证号码");
    go("idnum_done", { number: result.id_number }, "idnum_done");
    return;
  }
  // Not this card's guardian: the next ID card laid down is asked for, not the same one again.
  owner.refusedCardId = failure.code === "issuance_not_guardian" ? owner.guardianCardId : null;
  const known = REFUSALS[failure.code] || {};
  go("idnum_failed", {
    title: known.title || "未能登记身份证号码",
    words: failure.messageZh || "登记失败",
    code: failure.code,
    again: known.again || null,
  }, "idnum_failed");
}

/** 重新输入 / 重新放置身份证 after a refusal where that can help. */
export function again(where) {
  const owner = currentVisit();
  if (!owner?.child) return;
  if (where === "number" && owner.guardianCardId) enterNumber();
  else start();
}

// The refusals' titles; the words under them are the daemon's message_zh. `again`: what can be retried.
const REFUSALS = {
  issuance_invalid_id_number: { title: "身份证号码与孩子不符", again: "number" },
  issuance_not_guardian: { title: "不是这张卡登记的监护人", again: "guardian" },
  issuance_not_child_card: { title: "此卡无需登记身份证号码" },
  issuance_id_number_has_card: { title: "这个身份证号码已有居民健康卡" },
  issuance_id_number_recorded: { title: "已登记过身份证号码" },
  issuance_card_unknown: { title: "此卡无法登记" },
  issuance_card_not_live: { title: "此卡已停用" },
  card_changed: { title: "卡片或身份证已更换", again: "guardian" },
  idcard_no_card: { title: "请放回监护人的身份证", again: "guardian" },
};
