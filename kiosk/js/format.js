// Display helpers: money, dates, masking, and the names of payment methods.

/** ¥12.50 from fen (the API's integer money). */
export function yuan(fen) {
  const sign = fen < 0 ? "-" : "";
  const abs = Math.abs(fen);
  return `${sign}¥${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, "0")}`;
}

/** 李* / 欧阳** : the family name's first character only, as a kiosk greets. */
export function maskName(name) {
  const chars = Array.from((name || "").trim());
  if (chars.length === 0) return "";
  return chars[0] + "*".repeat(Math.max(1, chars.length - 1));
}

const BEIJING = { timeZone: "Asia/Shanghai" };

export function day(iso) {
  return new Date(iso).toLocaleDateString("zh-CN", { ...BEIJING, month: "long", day: "numeric", weekday: "short" });
}

export function time(iso) {
  return new Date(iso).toLocaleTimeString("zh-CN", { ...BEIJING, hour: "2-digit", minute: "2-digit" });
}

export function dateTime(iso) {
  return `${day(iso)} ${time(iso)}`;
}

// How each payment method is offered; a method the daemon adds later shows under its own name until it
// is named here (no other change is needed to offer it).
const METHODS = {
  prepaid: { label: "就诊卡账户", hint: "从您的就诊卡账户余额中扣除" },
  gateway: { label: "银行卡", hint: "使用银行卡支付" },
  bankcard: { label: "银行卡（芯片）", hint: "使用本卡的金融功能支付，需在密码键盘输入密码" },
  qrcode: { label: "扫码支付", hint: "用手机扫描屏幕上的二维码支付" },
  cash: { label: "现金", hint: "到人工窗口交现金" },
};

export function methodLabel(method) {
  return (METHODS[method] || { label: method }).label;
}

export function methodHint(method) {
  return (METHODS[method] || { hint: "" }).hint;
}
