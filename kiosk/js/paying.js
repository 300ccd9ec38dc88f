// Paying at the kiosk itself: 银行卡（芯片）— the card's own bank application, its PIN typed on the
// encrypting PIN pad — and 扫码支付, a code the payer's phone scans. The daemon answers such a payment
// request only when it is over (the PIN pad's timeout, or the code's life, later at most); meanwhile it
// sends `payment.progress` events to this page alone, and this module turns each into the screen the
// patient needs now. The page never sees a PIN: only how many digits were typed. Nothing here decides
// what was paid — the order in the answer does (tasks.js) — and this module words that order's refusal.

import { signal } from "@preact/signals";
import { post } from "./api.js";
import { go, onPayment, readerId, stillWaiting } from "./app.js";

/** The methods the patient carries out at the kiosk while the request waits. */
export const INTERACTIVE = new Set(["bankcard", "qrcode"]);

/** Digits typed on the PIN pad so far (a count from the pad, never a digit). */
export const pinDigits = signal(0);

// The hard timeout of the payment request, moved as the daemon says what it waits for.
const START_MS = 60000; // until the first stage
const PIN_MS = 150000; // from the PIN prompt: the pad's own timeout (at most 120 s), then the bank
const STEP_MS = 60000; // from any other stage: the bank's answer, then the HIS
const AFTER_CODE_MS = 60000; // past the code's expiry: closing it at the gateway, then the HIS

let current = null; // the payment in flight: {owner, method, reader, amount, timing, cancelling, expiresAt}

/** Follow the interactive payment of the visit *owner* by *method*: its progress drives the screens until
 *  `stop()`. `timing` goes to the request (api.js) so that each stage moves its timeout. */
export function follow(owner, method, amount) {
  const payment = { owner, method, reader: readerId(), amount, timing: {}, cancelling: false, expiresAt: null };
  current = payment;
  pinDigits.value = 0;
  onPayment(progress);
  // The visit ends meanwhile (card pulled, service paused): the payer walked away. The PIN entry ends on
  // the pad, a code that left the screen is closed, so that nobody pays it unseen; the answer is still
  // waited for (app.js), and says whether anything was paid.
  owner.onEnded = () => sendCancel(payment);
  return {
    timing: payment.timing,
    timeout: START_MS,
    get cancelled() {
      return payment.cancelling; // the patient gave up here: a refused order is their cancellation
    },
    stop() {
      if (current === payment) {
        current = null;
        onPayment(null);
      }
      owner.onEnded = null;
    },
  };
}

function until(payment, at) {
  payment.timing.until?.(at);
}

function progress(event) {
  const payment = current;
  if (!payment || payment.owner.ended || payment.cancelling) return;
  const amount = payment.amount;
  switch (event.stage) {
    case "reading_card":
      until(payment, Date.now() + STEP_MS);
      go("working", { title: "正在读取银行卡" }, "reading");
      break;
    case "enter_pin":
      until(payment, Date.now() + PIN_MS);
      pinDigits.value = 0;
      go("pay_pin", { amount }, "pay_pin");
      break;
    case "pin_digits":
      pinDigits.value = Math.max(0, Math.min(12, Number(event.digits) || 0));
      return; // the same screen: no new prompt, and the patient is still the one being waited for
    case "processing":
      until(payment, Date.now() + STEP_MS);
      go("pay_processing", { amount }, "pay_processing");
      break;
    case "scan_code": {
      const expiresAt = Date.parse(event.expires_at);
      payment.expiresAt = Number.isNaN(expiresAt) ? Date.now() + 120000 : expiresAt;
      until(payment, payment.expiresAt + AFTER_CODE_MS);
      const shown = Number.isInteger(event.amount_fen) ? event.amount_fen : amount;
      go("pay_qr", { code: String(event.code || ""), expiresAt: payment.expiresAt, amount: shown }, "pay_qr");
      break;
    }
    case "remove_card": // the card's part is over; it stays in (it is the visit): say so only when paid
      if (event.result !== "approved") return; // the answer follows at once and says what happened
    // falls through
    case "paid":
      until(payment, Date.now() + STEP_MS);
      go("working", { title: "已收到付款，正在办理" }, "working");
      break;
    default:
      return; // code_closed: the answer follows at once
  }
  stillWaiting();
}

/** 取消 on the QR screen: the code leaves the screen at once, and the daemon is asked to close it. The
 *  answer still decides: a payer who paid just before is told it was paid. */
export function cancelCode() {
  const payment = current;
  if (!payment || payment.method !== "qrcode" || payment.cancelling) return;
  payment.cancelling = true;
  go("pay_cancelling", { expiresAt: payment.expiresAt }, "pay_cancelling");
  stillWaiting();
  sendCancel(payment);
}

/** POST /v1/payments/cancel: this client's payment at this reader stops at its next safe point. */
async function sendCancel(payment) {
  try {
    await post(`/v1/payments/cancel?reader=${encodeURIComponent(payment.reader)}`, undefined, { visit: false, timeout: 10000 });
  } catch {
    // Nothing in progress any more (404: it has just ended), or the daemon cannot be reached: the code
    // lapses at its expiry, the PIN entry at the pad's timeout. The answer tells what happened either way.
  }
}

// -- a refusal in the patient's words ----------------------------------------------------------------

// The issuer's answer (ISO 8583 field 39), which the daemon's message carries as "(55: incorrect PIN)".
const ISSUER = {
  55: { words: "密码错误，请重新操作", prompt: "pin_wrong", again: true },
  75: { words: "密码错误次数过多，今天不能再用此卡支付，请联系发卡银行或选择其他支付方式" },
  51: { words: "银行卡余额不足，请选择其他支付方式" },
  54: { words: "银行卡已过期，请选择其他支付方式" },
  14: { words: "此卡不能用于支付，请选择其他支付方式" },
  "05": { words: "发卡银行拒绝了本次支付，请联系发卡银行或选择其他支付方式" },
  A0: { words: "银行卡校验失败，请到人工窗口办理" },
};

const CANCELLED = { words: "您已取消支付", prompt: "pay_cancelled", code: "payment_cancelled", again: true };
const OTHER = [
  [/^PIN entry cancelled/, CANCELLED],
  [/^PIN entry timeout/, { words: "输入密码超时", prompt: "pin_timeout", code: "pin_timeout", again: true }],
  [/^cancelled$/, CANCELLED],
  [/^code expired$/, { words: "二维码已过期", prompt: "qr_expired", code: "code_expired", again: true }],
];

/** What a declined or failed order tells the patient: `words` (message_zh), the voice `prompt`, the staff
 *  `code`, and whether trying `again` makes sense. *cancelled*: the patient pressed 取消 (whatever closed
 *  the code at last: the cancel, or its expiry where the daemon cannot be asked to cancel). */
export function refusal(order, cancelled = false) {
  if (cancelled) return CANCELLED;
  const message = order.message || "";
  const issuer = /\(([0-9A-Z]{2}): /.exec(message);
  if (issuer) {
    const said = ISSUER[issuer[1]] || { words: "发卡银行拒绝了本次支付，请选择其他支付方式" };
    return { prompt: "payment_declined", again: false, ...said, code: `issuer_${issuer[1]}` };
  }
  for (const [pattern, said] of OTHER) if (pattern.test(message)) return said;
  return { words: "支付未成功", prompt: "payment_declined", code: order.error_code || "payment_declined", again: false };
}
