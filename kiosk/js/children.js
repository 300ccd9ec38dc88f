// 为孩子办卡 (新生儿发卡): a guardian on an ID-card visit gets a card for their child, who has no ID number
// yet. The birth certificate's number (出生医学证明编号: one letter, nine digits — the letter from a grid,
// the digits on the keypad) → the hospital's birth record of that child, shown as the HIS has it, to
// confirm (对 / 不对 → the counter) → then the issuance journey of issuing.js (consent, phone, the card),
// with the record as the body's `child`. The HIS gives the record only to the child's father or mother
// (the ID card on the reader): anyone else hears "not found", as for an unknown number.

import { signal } from "@preact/signals";
import { ApiError, post } from "./api.js";
import { currentVisit, failed, finish, go, readerId, waiting } from "./app.js";
import { consent, JOURNEYS, step } from "./issuing.js";

export const LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ".split("");
const DIGITS = 9;

/** The certificate number's nine digits being typed. */
export const certDigits = signal("");
export const certProblem = signal("");

/** 为孩子办卡 on the menu: the certificate's letter. */
export function start() {
  const owner = currentVisit();
  if (!owner?.terms || !owner.idcard) return;
  owner.application = { kind: "child" };
  chooseLetterAgain();
}

export function chooseLetterAgain() {
  const owner = currentVisit();
  if (!owner?.application) return;
  owner.application.child = null;
  go("child_letter", { title: JOURNEYS.child.title, ...step(owner, "letter") }, "child_letter");
}

export function chooseLetter(letter) {
  const owner = currentVisit();
  if (!owner?.application || !LETTERS.includes(letter)) return;
  owner.application.letter = letter;
  certDigits.value = "";
  certProblem.value = "";
  go("child_digits", { letter, ...step(owner, "digits") }, "child_digits");
}

export function typeDigit(digit) {
  certProblem.value = "";
  if (certDigits.value.length < DIGITS) certDigits.value += digit;
}

export function eraseDigit() {
  certProblem.value = "";
  certDigits.value = certDigits.value.slice(0, -1);
}

export function clearDigits() {
  certProblem.value = "";
  certDigits.value = "";
}

/** 查询: the HIS's birth record of that certificate, asked with the guardian's ID card. */
export async function lookUp() {
  const owner = currentVisit();
  if (!owner?.application?.letter) return;
  const digits = certDigits.value;
  if (digits.length !== DIGITS) {
    certProblem.value = `请输入编号的${DIGITS}位数字（已输入${digits.length}位）`;
    return;
  }
  const certificate = owner.application.letter + digits;
  go("working", { title: "正在查询出生记录" }, "working");
  let record;
  try {
    // POST, the number in the body: a certificate number is personal data, and URLs end up in access logs.
    const body = { reader: readerId(), birth_certificate: certificate };
    record = await waiting(() => post("/v1/issuance/birth-record", body, { cardId: owner.cardId, timeout: 20000 }));
  } catch (error) {
    if (error.code === "aborted" || owner.ended) return;
    if (error instanceof ApiError && error.code === "his_not_found") {
      go("child_not_found", { certificate }, "issue_birth_not_found");
      return;
    }
    failed(error, { notDone: ["本次未办理"], retry: lookUp });
    return;
  }
  if (owner.ended) return;
  // Kept exactly as the HIS gave it: the card is made from it, and the daemon checks it against the HIS again.
  owner.application.child = record;
  go("child_confirm", { child: owner.application.child, ...step(owner, "child") }, "child_confirm");
}

/** 对: the record is the child's; on to what is written on the card. */
export function confirmChild() {
  const owner = currentVisit();
  if (owner?.application?.child) consent(owner);
}

/** 不对: the record is not right; only the counter can look at the certificate itself. */
export function wrongChild() {
  const owner = currentVisit();
  if (!owner?.application) return;
  owner.application = null; // nothing of the child stays on the kiosk
  go("child_mismatch", {}, "child_mismatch");
}

export function toCounter() {
  const owner = currentVisit();
  if (owner) owner.application = null;
  finish();
}
