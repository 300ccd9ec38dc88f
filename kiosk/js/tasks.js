// The patient's tasks from the menu — 挂号, 缴费, 充值, 余额查询, 我的挂号, 报告打印 — and their commits.
// Screens call these; the state machine they run on (go, load, failed, the visit) is app.js.

import { ApiError, get, idempotencyKey, post } from "./api.js";
import { config, currentVisit, failed, go, load, offered, readerId, waiting } from "./app.js";
import { methodLabel, yuan } from "./format.js";
import { INTERACTIVE, follow, refusal } from "./paying.js";

const PAPER_WAIT_S = 12; // how long the result screen waits to say whether the slip printed

// -- the menu's tasks --------------------------------------------------------------------------------

const BASE_STEPS = { registration: 4, bill: 2, top_up: 2 }; // without the choice of a payment method

/** How many steps a task has: one more where the patient must choose among payment methods. The total
 *  is known from the first step, so the counter never changes under the patient's eyes. */
export function stepsOf(kind) {
  const methods = offered.value && (kind === "top_up" ? offered.value.top_up : offered.value.methods);
  return BASE_STEPS[kind] + (methods && methods.length === 1 ? 0 : 1);
}

const q = (path, params) => `${path}?${new URLSearchParams({ reader: readerId(), ...params })}`;

export function menu() {
  const visit = currentVisit();
  if (!visit) return go("attract");
  go("menu", { patient: visit.name, idcard: visit.idcard, terms: visit.terms, issued: visit.issued, child: visit.child });
}

export function registration() {
  load("/v1/registration/departments", (data) => go("departments", { departments: data.departments }, "reg_department"));
}

export function chooseDepartment(department) {
  load(`/v1/registration/departments/${encodeURIComponent(department.id)}/doctors`, (data) =>
    go("doctors", { department, doctors: data.doctors }, "reg_doctor"),
  );
}

export function chooseDoctor(department, doctor) {
  const params = { department: department.id };
  if (doctor) params.doctor = doctor.id;
  // 普通门诊 (no doctor chosen) is the department's general clinic: the slots without a doctor.
  load(`/v1/registration/slots?${new URLSearchParams(params)}`, (data) =>
    go("slots", { department, doctor, slots: data.slots.filter((slot) => (doctor || slot.doctor_id === null) && Date.parse(slot.end) > Date.now()) }, "reg_slot"),
  );
}

export function chooseSlot(department, doctor, slot) {
  const task = {
    kind: "registration",
    title: "挂号",
    amount: slot.fee_fen,
    lines: [
      ["科室", department.name],
      ["医生", slot.doctor_name ? `${slot.doctor_name}（${slot.doctor_title || ""}）` : "普通门诊"],
      ["就诊时间", null, slot.start],
      ["挂号费", yuan(slot.fee_fen)],
    ],
    slot,
    department,
    steps: stepsOf("registration"),
  };
  chooseMethod(task, 4);
}

export function bills() {
  load(q("/v1/payments/bills"), (data) => go("bills", { bills: data.bills.filter((bill) => bill.status === "outstanding") }, "bills"));
}

export function chooseBill(bill) {
  chooseMethod(
    { kind: "bill", title: "缴费", amount: bill.total_fen, lines: [["项目", bill.title], ["科室", bill.department || "—"], ["金额", yuan(bill.total_fen)]], bill, steps: stepsOf("bill") },
    2,
  );
}

export function topUp() {
  go("topup", { amounts: config.value.top_up_amounts_fen }, "topup_amount");
}

export function chooseTopUp(amount) {
  chooseMethod({ kind: "top_up", title: "充值", amount, lines: [["充值金额", yuan(amount)]], steps: stepsOf("top_up") }, 2);
}

function chooseMethod(task, step) {
  load("/v1/payments/methods", (data) => {
    const methods = task.kind === "top_up" ? data.top_up : data.methods;
    if (methods.length === 0) {
      failed(new ApiError(503, "payment_unavailable", "本机暂不支持此项支付"), { notDone: ["本次未办理、未扣费"] });
    } else if (methods.length === 1) {
      confirm({ ...task, steps: step }, methods[0], step); // no choice to make: confirming is the last step
    } else {
      go("methods", { task, methods, step }, "pay_method");
    }
  });
}

export function confirm(task, method, step) {
  // The keys of this one confirmation: a second tap, or a retry of the same confirmation, sends the same.
  const keys = { book: idempotencyKey("book"), pay: idempotencyKey("pay"), print: idempotencyKey("print") };
  go("confirm", { task, method, keys, step }, task.kind === "registration" ? "reg_confirm" : "pay_confirm");
}

export function balance() {
  load(q("/v1/payments/account"), (data) => go("balance", { balance: data.balance_fen }, "balance"));
}

export function registrations() {
  // A registration says booked until cancelled; its fee is paid once its bill is no longer outstanding.
  load(q("/v1/payments/bills"), (billData) => {
    const unpaid = new Set(billData.bills.map((bill) => bill.id));
    load(q("/v1/registration/bookings"), (data) => {
      const shown = data.registrations.map((r) => ({ ...r, paid: r.status !== "cancelled" && !unpaid.has(r.bill_id) }));
      go("registrations", { registrations: shown }, "my_registrations");
    });
  });
}

export function reports() {
  load(q("/v1/print/lab-reports"), (data) => go("reports", { reports: data.lab_reports }, "reports"));
}

// -- commits -----------------------------------------------------------------------------------------

/** Pay (the confirmation's key): the order, whatever happens to the card meanwhile. A payment the patient
 *  makes at the kiosk (bank card and PIN pad, QR code) shows its stages as the daemon reports them. */
async function pay(owner, body, key, path = "/v1/payments") {
  owner.moneyPending += 1;
  const live = INTERACTIVE.has(body.method) ? follow(owner, body.method, body.amount_fen) : null;
  try {
    const options = { cardId: owner.cardId, key, visit: false, timeout: live ? live.timeout : 60000, timing: live?.timing };
    const order = await post(path, { reader: readerId(), ...body }, options);
    return live && live.cancelled ? { ...order, cancelledHere: true } : order;
  } finally {
    owner.moneyPending -= 1;
    if (live) live.stop();
  }
}

function paid(order) {
  return order.status === "settled" || order.status === "charged";
}

/** What the patient is told about an order that did not simply succeed (*again*: pay once more). */
function paymentTrouble(owner, order, done, again) {
  const reference = order.reference;
  if (order.status === "declined" || order.status === "failed") {
    // The daemon's message is for staff (English); the patient hears what it means for them.
    const said = refusal(order, Boolean(order.cancelledHere));
    return failed(new ApiError(402, said.code, said.words), {
      done,
      notDone: ["没有扣费"],
      reference,
      prompt: said.prompt,
      retry: said.again ? again : null,
    });
  }
  if (order.status === "unsettled" || order.status === "returned") {
    return failed(new ApiError(409, "payment_unsettled", "已扣费，但医院系统未确认，款项将原路退回"), {
      done: [...done, `已扣费 ${yuan(order.amount_fen)}（将退回）`],
      notDone: ["业务未办理"],
      reference,
    });
  }
  owner.committed.push(`支付结果确认中（参考号 ${reference}）`);
  return failed(new ApiError(202, "payment_in_doubt", "支付结果正在确认，请不要重复支付"), {
    done,
    unknown: ["是否扣费：正在确认，结果以人工窗口查询为准"],
    reference,
    prompt: "payment_in_doubt",
  });
}

/** A money request that failed without an order: refused before any charge, or unknown. */
function payError(owner, error, done, reference) {
  if (error.status >= 400 && error.status < 500 && error.code !== "kiosk_timeout") {
    const prompt = error.code === "insufficient_funds" ? "payment_declined" : null;
    return failed(error, { done, notDone: ["没有扣费"], prompt });
  }
  owner.committed.push(`支付结果确认中（参考号 ${reference}）`);
  return failed(error, { done, unknown: ["是否扣费：正在确认，请不要重复支付"], reference, prompt: "payment_in_doubt" });
}

/** Run *task* for the visit once: a second tap while it runs does nothing; the working screen meanwhile.
 *  A card pulled meanwhile hears the outcome when the task ends (app.js, cardRemoved). */
async function once(title, prompt, task) {
  const owner = currentVisit();
  if (!owner || owner.committing) return;
  owner.committing = true;
  go("working", { title }, prompt);
  try {
    await waiting(() => task(owner));
  } finally {
    owner.committing = false;
    if (owner.ended && owner.onSettled) owner.onSettled();
  }
}

export function commit(params) {
  return once("正在办理", "working", (owner) => runCommit(owner, params));
}

async function runCommit(owner, { task, method, keys, step }) {
  let billId = task.bill?.id;
  const done = [];
  let registration = null;
  if (task.kind === "registration") {
    try {
      registration = await post("/v1/registration/bookings", { reader: readerId(), slot_id: task.slot.id }, { cardId: owner.cardId, key: keys.book, visit: false });
    } catch (error) {
      // 重试 sends the same confirmation again, with the same keys: a booking that did go through is not made twice.
      const again = () => commit({ task, method, keys, step });
      return owner.ended ? null : failed(error, { notDone: ["未挂号", "没有扣费"], retry: again });
    }
    billId = registration.bill_id;
    owner.committed.push(`已预约挂号：${registration.department_name} ${registration.queue_number}号（未缴费）`);
  }
  let order;
  try {
    if (task.kind === "top_up") {
      order = await pay(owner, { amount_fen: task.amount, method }, keys.pay, "/v1/payments/top-ups");
    } else {
      order = await pay(owner, { bill_id: billId, amount_fen: registration ? registration.fee_fen : task.amount, method }, keys.pay);
    }
  } catch (error) {
    if (registration && error.status >= 400 && error.status < 500) await cancelUnpaid(owner, registration, keys);
    return owner.ended ? null : payError(owner, error, registrationDone(owner, registration), keys.pay);
  }
  if (!paid(order)) {
    if (registration && (order.status === "declined" || order.status === "failed")) await cancelUnpaid(owner, registration, keys);
    // Once more, with new keys: not while a booking is left unpaid (paying again would book it twice).
    const booked = owner.committed.some((line) => line.startsWith("已预约挂号"));
    const again = booked ? null : () => confirm(task, method, step);
    return owner.ended ? null : paymentTrouble(owner, order, registrationDone(owner, registration), again);
  }
  const outcome = {
    registration: `挂号成功：${registration?.department_name} 第${registration?.queue_number}号`,
    bill: `缴费成功：${task.bill?.title}`,
    top_up: "充值成功",
  }[task.kind];
  owner.committed = owner.committed.filter((line) => !line.startsWith("已预约挂号"));
  owner.committed.push(`${outcome}，已支付 ${yuan(order.amount_fen)}`);
  if (owner.ended) return null;
  const job = registration
    ? { kind: "registration_slip", registration_id: registration.id }
    : { kind: "payment_receipt", order_reference: order.reference };
  return printAndFinish(owner, job, keys.print, {
    lines: [outcome, `支付方式：${methodLabel(order.method)}`, `金额：${yuan(order.amount_fen)}`],
    reference: order.reference,
    reprint: registration ? "也可在「我的挂号」补打凭条" : null,
  });
}

function registrationDone(owner, registration) {
  if (!registration) return [];
  return owner.committed.some((line) => line.startsWith("已预约挂号"))
    ? ["已预约挂号，未缴费：可在「缴费」中支付，或到人工窗口退号"]
    : ["挂号已取消"];
}

/** 退号 (a money-side change: never abandoned with the visit). */
function postCancel(owner, registration, key) {
  const path = `/v1/registration/bookings/${encodeURIComponent(registration.id)}/cancel`;
  return post(`${path}?reader=${encodeURIComponent(readerId())}`, undefined, { cardId: owner.cardId, key, visit: false });
}

async function cancelUnpaid(owner, registration, keys) {
  try {
    await postCancel(owner, registration, `${keys.book}-x`);
    owner.committed = owner.committed.filter((line) => !line.startsWith("已预约挂号"));
  } catch {
    // Left booked and unpaid: the error screen says so, and 我的挂号 offers 退号.
  }
}

/** Print *job*, wait a little for its outcome, and show the result screen. *printOnly*: the print is the
 *  task itself (a lab report, a 补打), so it is what the visit did once it is printed or held. */
async function printAndFinish(owner, job, key, result, printOnly = false) {
  let printed = "printing";
  let printError = null;
  try {
    const submitted = await post("/v1/print/jobs", { reader: readerId(), ...job }, { cardId: owner.cardId, key });
    const finished = await get(`/v1/print/jobs/${encodeURIComponent(submitted.job_ref)}?wait=${PAPER_WAIT_S}`, { timeout: (PAPER_WAIT_S + 5) * 1000 });
    printed = finished.status;
    printError = finished.error?.message_zh || null;
  } catch (error) {
    if (error.code === "aborted" || owner.ended) return null;
    printed = "failed";
    printError = error.messageZh;
  }
  const held = printed === "held" || printed === "queued" || printed === "printing";
  if (printOnly && (held || printed === "printed")) owner.committed.push(result.lines[0]);
  if (owner.ended) return null;
  const prompt = held ? "paper_out" : "done";
  go("done", { ...result, printed, printError, held }, prompt);
  return null;
}

export function printReport(report) {
  const job = { kind: "lab_report", report_id: report.id };
  const result = { lines: [`检验报告：${report.title}`], reference: null };
  return once("正在打印", "printing", (owner) => printAndFinish(owner, job, idempotencyKey("lab"), result, true));
}

export function reprintSlip(registration) {
  const job = { kind: "registration_slip", registration_id: registration.id };
  const which = `${registration.department_name} 第${registration.queue_number}号`;
  const result = { lines: [`补打挂号凭条：${which}`], reference: null };
  return once("正在打印", "printing", (owner) => printAndFinish(owner, job, idempotencyKey("slip"), result, true));
}

export function askCancel(registration) {
  // Not "key": Preact keeps that prop for itself.
  go("cancel_confirm", { registration, cancelKey: idempotencyKey("cancel") }, "cancel_confirm");
}

export function cancelRegistration({ registration, cancelKey }) {
  return once("正在退号", "working", async (owner) => {
    try {
      await postCancel(owner, registration, cancelKey);
    } catch (error) {
      if (!owner.ended) failed(error, { notDone: ["未退号"] });
      return;
    }
    owner.committed.push(`已退号：${registration.department_name} 第${registration.queue_number}号`);
    if (!owner.ended) go("done", { lines: ["退号成功"], printed: null, held: false, reference: null }, "cancelled");
  });
}
