// The screens: one task per screen, Chinese, large, every action a button named by its words. They show
// `screen` (app.js) and call its actions; nothing here talks to the daemon.

import { useEffect, useState } from "preact/hooks";
import { html } from "./html.js";
import * as app from "./app.js";
import * as tasks from "./tasks.js";
import * as paying from "./paying.js";
import { dateTime, day, maskName, methodHint, methodLabel, time, yuan } from "./format.js";
import { QrCode } from "./qr.js";
import { louder, replay, volumeStep } from "./voice.js";
import { IssueConsent, IssueFailed, IssuePhone, Issued, Issuing } from "./issuing-screens.js";
import * as issuing from "./issuing.js";
import * as children from "./children.js";
import * as idnumber from "./idnumber.js";
import { CHILD_SCREENS } from "./children-screens.js";

export const Title = ({ children }) => html`<h1 id="screen-title" tabindex="-1">${children}</h1>`;

export function Steps({ step, of }) {
  if (!step) return null;
  return html`<p class="steps" aria-label=${`第${step}步，共${of}步`}>第${step}步 / 共${of}步</p>`;
}

export function Nav({ back, home = true, exit = true }) {
  return html`<nav class="nav" aria-label="导航">
    ${back ? html`<button class="nav-button" onClick=${back}>返回</button>` : null}
    ${home ? html`<button class="nav-button" onClick=${tasks.menu}>首页</button>` : null}
    ${exit ? html`<button class="nav-button nav-exit" onClick=${app.finish}>退出</button>` : null}
  </nav>`;
}

function Help() {
  const config = app.config.value;
  return html`<footer class="help">
    <p class="help-text">需要帮助？请找工作人员，或到${config ? config.help_desk : "人工窗口"}</p>
    <div class="help-buttons">
      <button class="small-button" onClick=${replay}>重听</button>
      <button class="small-button" onClick=${louder} aria-label=${`音量，当前第${volumeStep.value + 1}档，点击调整`}>
        音量 ${"▮".repeat(volumeStep.value + 1)}
      </button>
    </div>
  </footer>`;
}

function Option({ onClick, title, detail, disabled = false, label }) {
  // Named by what it shows: its title, then its detail.
  return html`<button class="option" onClick=${onClick} disabled=${disabled} aria-label=${label}>
    <span class="option-title">${title}</span>
    ${detail ? html`<span class="option-detail">${detail}</span>` : null}
  </button>`;
}

/** A list shown a page at a time, turned with buttons: a kiosk for older patients never needs a swipe. */
function Paged({ items, size, children: render }) {
  const [page, setPage] = useState(0);
  const pages = Math.max(1, Math.ceil(items.length / size));
  const current = Math.min(page, pages - 1);
  const shown = items.slice(current * size, (current + 1) * size);
  return html`${render(shown)}
    ${pages > 1
      ? html`<div class="pager">
          <button onClick=${() => setPage(current - 1)} disabled=${current === 0}>上一页</button>
          <span class="page-of">第${current + 1}页 / 共${pages}页</span>
          <button onClick=${() => setPage(current + 1)} disabled=${current >= pages - 1}>下一页</button>
        </div>`
      : null}`;
}

// -- attract, card ---------------------------------------------------------------------------------------

function Attract() {
  const tap = app.config.value?.card_entry === "tap";
  return html`<section class="attract">
    <${Title}>${tap ? "请将居民健康卡放在感应区" : "请插入您的居民健康卡"}<//>
    <div class=${`card-animation ${tap ? "tap" : "insert"}`} role="img"
      aria-label=${tap ? "将卡片平放在屏幕下方的感应区上" : "卡片芯片朝上、朝前，插入屏幕下方的插卡口"}>
      <div class="slot"></div><div class="card"><div class="chip"></div></div>
    </div>
    <p class="lead">${tap ? "卡片平放在下方感应区，听到提示音后再拿开" : "芯片朝上、朝前，插入下方插卡口，办理完成前请勿拔卡"}</p>
    <p class="services">可办理：挂号 · 缴费 · 充值 · 余额查询 · 我的挂号 · 报告打印</p>
    <p class="lead">没有居民健康卡？请将身份证放在身份证阅读区</p>
  </section>`;
}

function Reading() {
  return html`<section><${Title}>正在读卡，请稍候<//><div class="spinner" aria-hidden="true"></div>
    <p class="lead" role="status">请不要拔卡</p></section>`;
}

const CARD_PROBLEMS = {
  card_blacklisted: ["此卡已挂失或停用", "请取走卡片，到人工窗口办理。"],
  card_not_genuine: ["此卡无法验证", "请取走卡片，到人工窗口办理。"],
  card_unsupported: ["不支持此卡", "请使用居民健康卡。请取走卡片。"],
};

function CardProblem({ code, messageZh }) {
  const [title, next] = CARD_PROBLEMS[code] || ["无法读取卡片", "请取出卡片，芯片朝上、朝前重新插入。仍不能读取请到人工窗口。"];
  return html`<section class="problem"><${Title}>${title}<//>
    <p class="lead">${next}</p>
    ${messageZh && !CARD_PROBLEMS[code] ? html`<p>${messageZh}</p>` : null}
    <p class="code">代码：${code || "card_error"}</p></section>`;
}

function Paused() {
  return html`<section class="problem"><${Title}>本机暂停服务<//>
    <p class="lead">请到${app.config.value?.help_desk || "人工窗口"}办理，给您带来不便，敬请谅解。</p>
    <p class="code">代码：${app.paused.value || "unavailable"}</p></section>`;
}

function Unlaunched() {
  return html`<section class="problem"><${Title}>本机暂停服务<//>
    <p class="lead">请到人工窗口办理。</p>
    <p class="code">自助机未启动（请工作人员运行 kiosk-launcher）</p></section>`;
}

// -- menu --------------------------------------------------------------------------------------------

function Menu({ patient, idcard, terms, issued, child }) {
  const printer = app.printerProblem.value;
  const desk = app.config.value?.help_desk || "人工窗口";
  const tiles = [
    ["挂号", "预约今天和近期的号源", tasks.registration, false],
    ["缴费", "支付待缴费用", tasks.bills, false],
    ["充值", "为就诊卡账户充值", tasks.topUp, false],
    ["余额查询", "查看就诊卡账户余额", tasks.balance, false],
    ["我的挂号", "补打凭条、退号", tasks.registrations, false],
    ["报告打印", printer ? "暂停服务：打印机故障" : "打印检验报告", tasks.reports, Boolean(printer)],
  ];
  // A card with a fee is issued at the counter: this kiosk cannot charge it (issuing.js).
  const paid = terms && terms.card_fee_fen > 0;
  let notice = null;
  if (idcard) {
    if (issued) notice = "您正在使用身份证办理。您的居民健康卡已办好，请从出卡口取卡";
    else if (!terms) notice = `您正在使用身份证办理。需要居民健康卡，请到${desk}申领`;
    else if (paid) notice = `您正在使用身份证办理。办理居民健康卡需缴工本费${yuan(terms.card_fee_fen)}，请到${desk}办理`;
    else notice = "您正在使用身份证办理";
  }
  return html`<section>
    <${Title}>${patient ? `${maskName(patient)}，您好` : "您好"}<//>
    <p class="lead">请选择要办理的业务</p>
    ${notice ? html`<p class="notice" role="status">${notice}</p>` : null}
    ${printer ? html`<p class="notice" role="status">⚠ ${printer}，凭条将稍后打印</p>` : null}
    <div class="tiles">
      ${terms && !paid && !issued ? html`<button class="tile tile-issue" onClick=${() => issuing.start()}>
        <span class="tile-title">办理健康卡</span><span class="tile-detail">自助发卡：本人免费办理</span></button>` : null}
      ${terms && !paid ? html`<button class=${issued ? "tile tile-issue tile-wide" : "tile tile-issue"} onClick=${children.start}>
        <span class="tile-title">为孩子办卡</span><span class="tile-detail">新生儿：凭出生医学证明</span></button>` : null}
      ${child ? html`<button class="tile tile-issue tile-wide" onClick=${idnumber.start}>
        <span class="tile-title">登记孩子身份证号</span><span class="tile-detail">孩子已有身份证号码：请监护人携带本人身份证办理</span></button>` : null}
      ${tiles.map(([title, detail, action, disabled]) => html`<button class="tile" onClick=${action} disabled=${disabled}>
        <span class="tile-title">${title}</span><span class="tile-detail">${detail}</span></button>`)}
    </div>
    <${Nav} home=${false} />
  </section>`;
}

// -- registration ------------------------------------------------------------------------------------

function Departments({ departments }) {
  return html`<section><${Steps} step=${1} of=${tasks.stepsOf("registration")} /><${Title}>请选择科室<//>
    <${Paged} items=${departments} size=${5}>${(shown) => html`<div class="options">
      ${shown.map((d) => html`<${Option} onClick=${() => tasks.chooseDepartment(d)} title=${d.name} detail=${d.location} />`)}</div>`}<//>
    <${Nav} back=${tasks.menu} /></section>`;
}

function Doctors({ department, doctors }) {
  return html`<section><${Steps} step=${2} of=${tasks.stepsOf("registration")} /><${Title}>请选择医生<//><p class="lead">${department.name}</p>
    <${Paged} items=${[null, ...doctors]} size=${5}>${(shown) => html`<div class="options">
      ${shown.map((d) =>
        d === null
          ? html`<${Option} onClick=${() => tasks.chooseDoctor(department, null)} title="普通门诊" detail="不指定医生" />`
          : html`<${Option} onClick=${() => tasks.chooseDoctor(department, d)} title=${`${d.name} ${d.title}`} detail=${d.specialty || ""} />`,
      )}</div>`}<//>
    <${Nav} back=${tasks.registration} /></section>`;
}

function Slots({ department, doctor, slots }) {
  const open = slots.filter((slot) => slot.remaining > 0);
  return html`<section><${Steps} step=${3} of=${tasks.stepsOf("registration")} /><${Title}>请选择就诊时间<//>
    <p class="lead">${department.name} · ${doctor ? doctor.name : "普通门诊"}</p>
    ${open.length === 0 ? html`<p class="empty">近期没有可预约的号源，请选择其他医生或到人工窗口咨询。</p>` : null}
    <${Paged} items=${open} size=${5}>${(shown) => html`<div class="options">${shown.map((slot) => html`<${Option}
      onClick=${() => tasks.chooseSlot(department, doctor, slot)}
      title=${`${day(slot.start)} ${slot.session} ${time(slot.start)}–${time(slot.end)}`}
      detail=${`${slot.doctor_name || "普通门诊"} · 挂号费 ${yuan(slot.fee_fen)} · 剩余 ${slot.remaining} 个`} />`)}</div>`}<//>
    <${Nav} back=${() => tasks.chooseDepartment(department)} /></section>`;
}

// -- paying --------------------------------------------------------------------------------------------

function Methods({ task, methods, step }) {
  return html`<section><${Steps} step=${step} of=${task.steps} /><${Title}>请选择支付方式<//>
    <p class="lead">${task.title}：${yuan(task.amount)}</p>
    <div class="options">${methods.map((m) => html`<${Option} onClick=${() => tasks.confirm(task, m, step + 1)} title=${methodLabel(m)} detail=${methodHint(m)} />`)}</div>
    <${Nav} back=${tasks.menu} /></section>`;
}

function Confirm(params) {
  const { task, method, step } = params;
  const submit = () => tasks.commit(params);
  return html`<section><${Steps} step=${step} of=${task.steps} /><${Title}>请核对${task.title}信息<//>
    <dl class="facts">
      ${task.lines.map(([label, value, iso]) => html`<div class="fact"><dt>${label}</dt><dd>${iso ? dateTime(iso) : value}</dd></div>`)}
      <div class="fact"><dt>支付方式</dt><dd>${methodLabel(method)}</dd></div>
    </dl>
    <p class="total">应付金额 <strong>${yuan(task.amount)}</strong></p>
    <button class="primary" onClick=${submit}>确认支付 ${yuan(task.amount)}</button>
    <${Nav} back=${tasks.menu} /></section>`;
}

function Working({ title }) {
  return html`<section><${Title}>${title}，请稍候<//><div class="spinner" aria-hidden="true"></div>
    <p class="lead" role="status" aria-live="polite">${app.slow.value ? "正在连接医院系统，请耐心等待…" : "请不要拔卡"}</p></section>`;
}

// -- paying at the kiosk: the bank card's PIN on the pad, the QR code on the phone ------------------------
// No 返回/首页/退出 while the money moves: the bank card is cancelled on the pad, the QR code by 取消.

/** Whole seconds left until *deadline* (ms since the epoch), counted against the clock, not in ticks. */
function useSecondsLeft(deadline) {
  const left = () => (deadline ? Math.max(0, Math.ceil((deadline - Date.now()) / 1000)) : 0);
  const [seconds, setSeconds] = useState(left);
  useEffect(() => {
    const timer = setInterval(() => setSeconds(left()), 500);
    return () => clearInterval(timer);
  }, [deadline]);
  return seconds;
}

const minutes = (seconds) => `${Math.floor(seconds / 60)}分${String(seconds % 60).padStart(2, "0")}秒`;

// The encrypting PIN pad as drawn: its digits, and the three keys the patient needs, by colour and word.
const PAD = [["1"], ["2"], ["3"], ["取消", "pad-cancel"], ["4"], ["5"], ["6"], ["更正", "pad-clear"],
  ["7"], ["8"], ["9"], [""], ["*"], ["0"], ["#"], ["确认", "pad-enter"]];

function PinPadPicture() {
  return html`<div class="pinpad" role="img" aria-label="密码键盘：输入密码后按绿色的确认键，按错了按黄色的更正键，不付了按红色的取消键">
    ${PAD.map(([key, kind]) => html`<span class=${`pad-key ${kind || ""}`}>${key}</span>`)}
  </div>`;
}

function PinDots() {
  const typed = paying.pinDigits.value;
  const places = Math.max(6, typed);
  return html`<div class="pin-entry" role="status" aria-live="polite">
    <span class="pin-dots" aria-hidden="true">${Array.from({ length: places }, (_, i) =>
      html`<span class=${i < typed ? "dot typed" : "dot"}>${i < typed ? "●" : "○"}</span>`)}</span>
    <span class="pin-count">${typed ? `已输入 ${typed} 位` : "尚未输入"}</span>
  </div>`;
}

function PayPin({ amount }) {
  return html`<section class="paying"><${Title}>请在密码键盘上输入密码<//>
    <p class="total">支付金额 <strong>${yuan(amount)}</strong></p>
    <${PinDots} />
    <${PinPadPicture} />
    <p class="lead">输入完成后按绿色「确认」键；如需取消，请按密码键盘上红色的「取消」键。</p>
    <p class="notice">密码只在密码键盘上输入，屏幕不会显示。请用手遮挡，并请勿拔卡。</p></section>`;
}

function PayProcessing({ amount }) {
  return html`<section class="paying"><${Title}>正在处理，请勿拔卡<//>
    <p class="total">支付金额 <strong>${yuan(amount)}</strong></p>
    <div class="spinner" aria-hidden="true"></div>
    <p class="lead" role="status" aria-live="polite">${app.slow.value ? "银行响应较慢，请耐心等待…" : "正在与银行确认，请稍候"}</p></section>`;
}

function PayQr({ code, expiresAt, amount }) {
  const seconds = useSecondsLeft(expiresAt);
  return html`<section class="paying qr-pay"><${Title}>请使用手机扫码支付<//>
    <p class="total">支付金额 <strong>${yuan(amount)}</strong></p>
    ${seconds > 0
      ? html`<div class="qr-box"><${QrCode} text=${code} size=${640} label=${`付款二维码，金额${yuan(amount)}`} /></div>
          <p class="countdown" role="timer" aria-label=${`二维码剩余有效时间${minutes(seconds)}`}>剩余时间 <strong>${minutes(seconds)}</strong></p>`
      : html`<p class="notice" role="status">二维码已过期，正在确认支付结果，请稍候…</p>`}
    <p class="lead">打开手机上的支付软件，扫描上方二维码付款</p>
    <button class="cancel-button" onClick=${paying.cancelCode}>取消</button></section>`;
}

function PayCancelling({ expiresAt }) {
  const seconds = useSecondsLeft(expiresAt);
  return html`<section class="paying"><${Title}>正在取消支付，请稍候<//>
    <div class="spinner" aria-hidden="true"></div>
    <p class="lead" role="status" aria-live="polite">二维码已从屏幕上撤下，请不要再扫码付款</p>
    ${seconds > 0 ? html`<p>最多还需要 ${minutes(seconds)}</p>` : null}</section>`;
}

function Done({ lines, printed, printError, held, reference, reprint }) {
  let print = null;
  if (printed === "printed") print = "凭条已打印，请取走凭条";
  else if (held) print = `办理成功，凭条稍后打印（打印机暂时缺纸或故障）。${reprint || "如未打印，可到人工窗口补打"}`;
  else if (printed === "failed") print = `凭条未能打印${printError ? `：${printError}` : ""}，可到人工窗口补打`;
  return html`<section class="done"><${Title}>办理成功<//>
    <ul class="result" aria-label="办理结果">${lines.map((line) => html`<li>✔ ${line}</li>`)}</ul>
    ${print ? html`<p class=${held || printed === "failed" ? "notice" : "lead"} role="status">${print}</p>` : null}
    ${reference ? html`<p class="code">参考号：${reference}</p>` : null}
    <p class="take">请取走您的卡片${printed === "printed" ? "和凭条" : ""}</p>
    <${Nav} home=${true} exit=${true} /></section>`;
}

function ErrorScreen({ code, messageZh, done, notDone, unknown, retry, reference }) {
  return html`<section class="problem"><${Title}>业务未能完成<//>
    <p class="lead" role="alert">${messageZh}</p>
    ${done.length ? html`<ul class="result" aria-label="已办理">${done.map((line) => html`<li>✔ ${line}</li>`)}</ul>` : null}
    ${notDone.length ? html`<ul class="result not-done" aria-label="未办理">${notDone.map((line) => html`<li>✘ ${line}</li>`)}</ul>` : null}
    ${unknown.length ? html`<ul class="result unknown" aria-label="正在确认">${unknown.map((line) => html`<li>？ ${line}</li>`)}</ul>` : null}
    <p>如需帮助，请到${app.config.value?.help_desk || "人工窗口"}${reference ? "，并出示参考号" : ""}。</p>
    ${reference ? html`<p class="reference">参考号：${reference}</p>` : null}
    <p class="code">代码：${code}</p>
    ${retry ? html`<button class="primary" onClick=${retry}>重试</button>` : null}
    <${Nav} /></section>`;
}

// -- the other tasks ---------------------------------------------------------------------------------------

function Bills({ bills }) {
  return html`<section><${Steps} step=${1} of=${tasks.stepsOf("bill")} /><${Title}>请选择要缴费的项目<//>
    ${bills.length === 0 ? html`<p class="empty">您没有待缴费用。</p>` : null}
    <${Paged} items=${bills} size=${4}>${(shown) => html`<div class="options">${shown.map((bill) => html`<button class="option bill" onClick=${() => tasks.chooseBill(bill)}>
      <span class="option-title">${bill.title}${bill.department ? ` · ${bill.department}` : ""}　${yuan(bill.total_fen)}</span>
      <span class="option-detail">${bill.items.map((item) => `${item.name} ×${item.quantity} ${yuan(item.amount_fen)}`).join("；")}</span>
    </button>`)}</div>`}<//>
    <${Nav} back=${tasks.menu} /></section>`;
}

function TopUp({ amounts }) {
  return html`<section><${Steps} step=${1} of=${tasks.stepsOf("top_up")} /><${Title}>请选择充值金额<//>
    <div class="tiles amounts">${amounts.map((amount) => html`<button class="tile" onClick=${() => tasks.chooseTopUp(amount)}>
      <span class="tile-title">${yuan(amount)}</span></button>`)}</div>
    <${Nav} back=${tasks.menu} /></section>`;
}

function Balance({ balance }) {
  return html`<section><${Title}>就诊卡账户余额<//>
    <p class="total"><strong>${yuan(balance)}</strong></p>
    <button class="primary" onClick=${tasks.topUp}>充值</button>
    <${Nav} back=${tasks.menu} /></section>`;
}

const status = (r) => (r.status === "cancelled" ? "已退号" : r.paid ? "已缴费" : "已预约，未缴费");

function Registrations({ registrations }) {
  return html`<section><${Title}>我的挂号<//>
    ${registrations.length === 0 ? html`<p class="empty">没有挂号记录。</p>` : null}
    <${Paged} items=${registrations} size=${4}>${(shown) => html`<ul class="records">${shown.map((r) => html`<li class="record">
      <p class="record-title">${r.department_name} · ${r.doctor_name || "普通门诊"} · 第${r.queue_number}号</p>
      <p>${dateTime(r.start)} · ${status(r)}</p>
      <div class="record-actions">
        ${r.paid ? html`<button class="action" onClick=${() => tasks.reprintSlip(r)} aria-label=${`补打凭条 ${r.department_name} 第${r.queue_number}号`}>补打凭条</button>` : null}
        ${r.status === "booked" && !r.paid ? html`<button class="action" onClick=${() => tasks.askCancel(r)} aria-label=${`退号 ${r.department_name} 第${r.queue_number}号`}>退号</button>` : null}
        ${r.paid ? html`<p class="hint">已缴费的挂号如需退号，请到人工窗口</p>` : null}
      </div></li>`)}</ul>`}<//>
    <${Nav} back=${tasks.menu} /></section>`;
}

function CancelConfirm(params) {
  const { registration } = params;
  return html`<section><${Title}>确认退号？<//>
    <dl class="facts"><div class="fact"><dt>科室</dt><dd>${registration.department_name}</dd></div>
      <div class="fact"><dt>就诊时间</dt><dd>${dateTime(registration.start)}</dd></div>
      <div class="fact"><dt>序号</dt><dd>第${registration.queue_number}号</dd></div></dl>
    <button class="primary" onClick=${() => tasks.cancelRegistration(params)}>确认退号</button>
    <${Nav} back=${tasks.registrations} /></section>`;
}

function Reports({ reports }) {
  return html`<section><${Title}>请选择要打印的检验报告<//>
    ${reports.length === 0 ? html`<p class="empty">没有可打印的检验报告。</p>` : null}
    <${Paged} items=${reports} size=${4}>${(shown) => html`<ul class="records">${shown.map((r) => html`<li class="record">
      <p class="record-title">${r.title}${r.department ? ` · ${r.department}` : ""}</p>
      <p>报告时间 ${dateTime(r.reported_at)} · 共${r.items}项</p>
      ${r.abnormal > 0 ? html`<p class="abnormal">⚠ 有${r.abnormal}项结果异常（↑偏高 ↓偏低），请咨询医生</p>` : html`<p>结果均在参考范围内</p>`}
      <div class="record-actions"><button class="action" onClick=${() => tasks.printReport(r)} aria-label=${`打印 ${r.title}`}>打印</button></div>
    </li>`)}</ul>`}<//>
    <${Nav} back=${tasks.menu} /></section>`;
}

// -- the visit's end ----------------------------------------------------------------------------------------

function Removed({ lines, pending, idcard, issuing: making }) {
  const title = idcard ? "已取走身份证" : "已退卡";
  if (pending) {
    return html`<section><${Title}>${title}<//><div class="spinner" aria-hidden="true"></div>
      <p class="lead" role="status">${making ? "正在制卡，请稍候，请留意出卡口…" : "正在确认本次支付结果，请稍候…"}</p></section>`;
  }
  return html`<section><${Title}>${title}<//>
    ${lines.length === 0
      ? html`<p class="lead" role="status">本次未办理、未扣费</p>`
      : html`<ul class="result" aria-label="本次已办理">${lines.map((line) => html`<li>✔ ${line}</li>`)}</ul>`}
    <p>感谢使用，祝您早日康复。</p></section>`;
}

function TakeCard({ lines, idcard }) {
  return html`<section><${Title}>${idcard ? "请取走您的身份证" : "请取走您的卡片"}<//>
    ${lines.length ? html`<ul class="result" aria-label="本次已办理">${lines.map((line) => html`<li>✔ ${line}</li>`)}</ul>` : html`<p class="lead">本次未办理、未扣费</p>`}
    <div class="card-animation out" aria-hidden="true"><div class="slot"></div><div class="card"><div class="chip"></div></div></div></section>`;
}

function TimedOut({ lines }) {
  return html`<section><${Title}>操作超时，请取走您的卡片<//>
    ${lines.length ? html`<ul class="result" aria-label="本次已办理">${lines.map((line) => html`<li>✔ ${line}</li>`)}</ul>` : html`<p class="lead">本次未办理、未扣费</p>`}
    <p>如需继续办理，请取出卡片后重新插入。</p></section>`;
}

function IdleWarning() {
  const warning = app.idle.value;
  if (!warning) return null;
  return html`<div class="overlay"><div class="dialog" role="alertdialog" aria-modal="true" aria-labelledby="idle-title" aria-describedby="idle-text">
    <h2 id="idle-title">您还需要继续办理吗？</h2>
    <p id="idle-text" aria-live="assertive">${warning.remaining} 秒后将结束本次办理</p>
    <button class="primary" onClick=${app.keepGoing}>继续办理</button>
  </div></div>`;
}

const SCREENS = {
  starting: () => html`<section><${Title}>正在启动自助服务…<//></section>`,
  unlaunched: Unlaunched,
  attract: Attract,
  reading: Reading,
  card_problem: CardProblem,
  paused: Paused,
  menu: Menu,
  departments: Departments,
  doctors: Doctors,
  slots: Slots,
  methods: Methods,
  confirm: Confirm,
  working: Working,
  pay_pin: PayPin,
  pay_processing: PayProcessing,
  pay_qr: PayQr,
  pay_cancelling: PayCancelling,
  done: Done,
  error: ErrorScreen,
  bills: Bills,
  topup: TopUp,
  balance: Balance,
  registrations: Registrations,
  cancel_confirm: CancelConfirm,
  reports: Reports,
  removed: Removed,
  take_card: TakeCard,
  timed_out: TimedOut,
  issue_consent: IssueConsent,
  issue_phone: IssuePhone,
  issuing: Issuing,
  issued: Issued,
  issue_failed: IssueFailed,
  ...CHILD_SCREENS,
};

export function Kiosk() {
  const current = app.screen.value;
  const Screen = SCREENS[current.name] || SCREENS.starting;
  const hospital = app.config.value?.hospital_name || "";
  return html`<div class="kiosk" data-screen=${current.name}>
    <header class="top"><span class="hospital">${hospital}</span><span class="service">居民健康卡自助服务</span></header>
    <main class="screen" inert=${app.idle.value ? true : undefined}><${Screen} key=${current.seq} ...${current} /></main>
    <${Help} />
    <${IdleWarning} />
  </div>`;
}
