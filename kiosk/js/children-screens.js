// The screens of 为孩子办卡 (children.js: the birth certificate's number, the child as the HIS has it) and of
// 登记孩子身份证号 (idnumber.js: the guardian's ID card, the child's ID number). Same parts and sizes as the
// other screens (screens.js); the consent, phone and card screens after them are issuing-screens.js's.

import { html } from "./html.js";
import * as app from "./app.js";
import * as children from "./children.js";
import * as idnumber from "./idnumber.js";
import * as tasks from "./tasks.js";
import { Nav, Steps, Title } from "./screens.js";

const SEX = { 1: "男", 2: "女" };
const RELATION = { 51: "父亲", 52: "母亲", 97: "监护人" };
const desk = () => app.config.value?.help_desk || "人工窗口";

/** 2026-11-06 → 2026年11月6日: the date as it is printed on the certificate. */
function written(isoDate) {
  const [year, month, day] = isoDate.split("-").map(Number);
  return `${year}年${month}月${day}日`;
}

function Keypad({ keys, press }) {
  return html`<div class="keypad">${keys.map((key) => html`<button class=${key.length > 1 ? "key key-word" : "key"}
    onClick=${() => press(key)}>${key}</button>`)}</div>`;
}

// -- 为孩子办卡 ------------------------------------------------------------------------------------------

function ChildLetter({ title, step, of }) {
  return html`<section><${Steps} step=${step} of=${of} /><${Title}>${title}<//>
    <p class="lead">请选择孩子出生医学证明编号的第一个字母（编号为1个字母和9位数字）</p>
    <div class="letters" role="group" aria-label="编号的第一个字母">
      ${children.LETTERS.map((letter) => html`<button class="letter" onClick=${() => children.chooseLetter(letter)}>${letter}</button>`)}
    </div>
    <${Nav} back=${tasks.menu} home=${false} /></section>`;
}

const DIGIT_KEYS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "清空", "0", "删除"];

function pressDigit(key) {
  if (key === "删除") children.eraseDigit();
  else if (key === "清空") children.clearDigits();
  else children.typeDigit(key);
}

function ChildDigits({ letter, step, of }) {
  const digits = children.certDigits.value;
  const problem = children.certProblem.value;
  return html`<section><${Steps} step=${step} of=${of} /><${Title}>请输入编号的9位数字<//>
    <p class="lead">出生医学证明编号：字母 ${letter} 之后的9位数字</p>
    <p class="number-display" role="status" aria-live="polite">
      <span class="fixed">${letter}</span> ${digits || html`<span class="placeholder">请点击下方数字输入</span>`}
    </p>
    ${problem ? html`<p class="notice" role="alert">${problem}</p>` : null}
    <${Keypad} keys=${DIGIT_KEYS} press=${pressDigit} />
    <button class="primary" onClick=${children.lookUp}>查询出生记录</button>
    <${Nav} back=${children.chooseLetterAgain} home=${false} /></section>`;
}

function ChildConfirm({ child, step, of }) {
  return html`<section><${Steps} step=${step} of=${of} /><${Title}>请核对孩子的信息<//>
    <p class="lead">以下是医院出生记录中的信息</p>
    <dl class="facts">
      <div class="fact"><dt>姓名</dt><dd>${child.name}</dd></div>
      <div class="fact"><dt>性别</dt><dd>${SEX[child.sex] || "—"}</dd></div>
      <div class="fact"><dt>出生日期</dt><dd>${written(child.birth_date)}</dd></div>
      <div class="fact"><dt>证明编号</dt><dd>${child.birth_certificate}</dd></div>
      <div class="fact"><dt>您是孩子的</dt><dd>${RELATION[child.relation] || "监护人"}</dd></div>
    </dl>
    <p>信息都对，请点「对」；有不对的地方，请点「不对」，到人工窗口核对。</p>
    <div class="choice">
      <button class="secondary" onClick=${children.wrongChild}>不对</button>
      <button class="primary" onClick=${children.confirmChild}>对</button>
    </div>
    <${Nav} home=${false} /></section>`;
}

function ChildNotFound({ certificate }) {
  return html`<section class="problem"><${Title}>未找到孩子的出生记录<//>
    <p class="lead" role="alert">没有查到编号 ${certificate} 中与您的身份证相符的出生记录。</p>
    <p>只有孩子的父亲或母亲可以用本人身份证办理。请核对编号后重新输入，或带上出生医学证明到${desk()}办理。</p>
    <p class="code">代码：his_not_found</p>
    <button class="primary" onClick=${children.chooseLetterAgain}>重新输入编号</button>
    <nav class="nav" aria-label="导航">
      <button class="nav-button" onClick=${tasks.menu}>返回</button>
      <button class="nav-button nav-exit" onClick=${children.toCounter}>去人工窗口</button>
    </nav></section>`;
}

function ChildMismatch() {
  return html`<section class="problem"><${Title}>请到人工窗口办理<//>
    <p class="lead" role="alert">出生记录与孩子的信息不符，本机不能办理。</p>
    <p>请带上孩子的出生医学证明和您的身份证，到${desk()}核对后办理。本次未办理。</p>
    <nav class="nav" aria-label="导航">
      <button class="nav-button" onClick=${tasks.menu}>返回</button>
      <button class="nav-button nav-exit" onClick=${children.toCounter}>去人工窗口</button>
    </nav></section>`;
}

// -- 登记孩子身份证号 ------------------------------------------------------------------------------------

function IdNumberGuardian({ refused }) {
  return html`<section><${Title}>请把监护人的身份证放在阅读器上<//>
    ${refused ? html`<p class="notice" role="alert">刚才的身份证不是这张卡登记的监护人，请换上监护人本人的身份证</p>` : null}
    <p class="lead">请使用为孩子办卡时的父亲或母亲本人的身份证，放在身份证阅读区</p>
    <div class="spinner" aria-hidden="true"></div>
    <p class="lead" role="status" aria-live="polite">正在等待身份证…请不要拔出孩子的健康卡</p>
    <${Nav} back=${tasks.menu} home=${false} /></section>`;
}

const ID_KEYS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "X", "0", "删除"];

function pressIdKey(key) {
  if (key === "删除") idnumber.eraseChar();
  else idnumber.typeChar(key);
}

/** 110101 20261106 0028: grouped as it is read (region, birth date, sequence and check character). */
function groupedId(chars) {
  return [chars.slice(0, 6), chars.slice(6, 14), chars.slice(14)].filter(Boolean).join(" ");
}

function IdNumberEntry() {
  const chars = idnumber.idChars.value;
  const problem = idnumber.idProblem.value;
  return html`<section><${Title}>请输入孩子的身份证号码<//>
    <p class="lead">共18位，最后一位可能是字母X</p>
    <p class="number-display" role="status" aria-live="polite">
      ${chars ? groupedId(chars) : html`<span class="placeholder">请点击下方按键输入</span>`}
    </p>
    ${problem ? html`<p class="notice" role="alert">${problem}</p>` : null}
    <${Keypad} keys=${ID_KEYS} press=${pressIdKey} />
    <div class="choice">
      <button class="secondary" onClick=${idnumber.clearChars}>清空</button>
      <button class="primary" onClick=${idnumber.submit}>确认登记</button>
    </div>
    <${Nav} back=${tasks.menu} home=${false} /></section>`;
}

function IdNumberDone({ number }) {
  return html`<section class="done"><${Title}>已登记<//>
    <ul class="result" aria-label="办理结果"><li>✔ 孩子的身份证号码已登记</li></ul>
    <p class="lead">身份证号码 ${number} 已写入孩子的健康卡。</p>
    <p class="take">请取走孩子的健康卡和您的身份证</p>
    <${Nav} home=${true} exit=${true} /></section>`;
}

function IdNumberFailed({ title, words, code, again }) {
  return html`<section class="problem"><${Title}>${title}<//>
    <p class="lead" role="alert">${words}</p>
    <p>如需帮助，请到${desk()}办理。</p>
    <p class="code">代码：${code}</p>
    ${again === "number" ? html`<button class="primary" onClick=${() => idnumber.again("number")}>重新输入</button>` : null}
    ${again === "guardian" ? html`<button class="primary" onClick=${() => idnumber.again("guardian")}>重新放置身份证</button>` : null}
    <${Nav} back=${tasks.menu} home=${false} /></section>`;
}

export const CHILD_SCREENS = {
  child_letter: ChildLetter,
  child_digits: ChildDigits,
  child_confirm: ChildConfirm,
  child_not_found: ChildNotFound,
  child_mismatch: ChildMismatch,
  idnum_guardian: IdNumberGuardian,
  idnum_entry: IdNumberEntry,
  idnum_done: IdNumberDone,
  idnum_failed: IdNumberFailed,
};
