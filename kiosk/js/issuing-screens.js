// The screens of 办理健康卡 (issuing.js): consent, the phone number on the keypad, the card being made, the
// card handed out, a failure. Same parts and sizes as the other screens (screens.js).

import { html } from "./html.js";
import * as app from "./app.js";
import * as issuing from "./issuing.js";
import * as tasks from "./tasks.js";
import { yuan } from "./format.js";
import { Nav, Steps, Title } from "./screens.js";

const fee = (fen) => (fen > 0 ? yuan(fen) : "免费");

export function IssueConsent({ terms, title, child, step, of }) {
  return html`<section><${Steps} step=${step} of=${of} /><${Title}>${title}<//>
    <p class="lead">请阅读以下内容，同意后继续</p>
    <dl class="facts">
      <div class="fact"><dt>发卡机构</dt><dd>${terms.issuer_name}</dd></div>
      <div class="fact"><dt>工本费</dt><dd>${fee(terms.card_fee_fen)}</dd></div>
      <div class="fact"><dt>写入卡片</dt><dd>${terms.items.join("、")}</dd></div>
      ${terms.bank_application ? html`<div class="fact"><dt>金融功能</dt><dd>本卡同时具有银行借记卡功能</dd></div>` : null}
    </dl>
    ${child
      ? html`<p>孩子的信息来自医院的出生记录，监护人姓名读取自您的身份证，电话由您在下一步输入；写入后用于孩子就医时识别身份。</p>`
      : html`<p>以上信息读取自您的身份证，电话由您在下一步输入；写入后用于就医时识别您的身份。</p>`}
    <div class="choice">
      <button class="secondary" onClick=${tasks.menu}>不同意</button>
      <button class="primary" onClick=${issuing.agree}>同意</button>
    </div>
    <${Nav} home=${false} /></section>`;
}

const KEYS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "清空", "0", "删除"];

function press(key) {
  if (key === "删除") issuing.eraseDigit();
  else if (key === "清空") issuing.clearDigits();
  else issuing.typeDigit(key);
}

/** 138 0013 8000: grouped as people read a mobile number aloud. */
function grouped(digits) {
  return [digits.slice(0, 3), digits.slice(3, 7), digits.slice(7)].filter(Boolean).join(" ");
}

export function IssuePhone({ step, of, child }) {
  const digits = issuing.phoneDigits.value;
  const problem = issuing.phoneProblem.value;
  return html`<section><${Steps} step=${step} of=${of} /><${Title}>请输入您的手机号码<//>
    <p class="lead">${child ? "将作为监护人电话写入孩子的健康卡" : "将作为本人电话写入健康卡"}</p>
    <p class="phone-display" role="status" aria-live="polite">
      ${digits ? grouped(digits) : html`<span class="placeholder">请点击下方数字输入</span>`}
    </p>
    ${problem ? html`<p class="notice" role="alert">${problem}</p>` : null}
    <div class="keypad">${KEYS.map((key) => html`<button class=${key.length > 1 ? "key key-word" : "key"} onClick=${() => press(key)}>${key}</button>`)}</div>
    <button class="primary" onClick=${issuing.confirmPhone}>确认，开始制卡</button>
    <${Nav} back=${issuing.backToConsent} home=${false} /></section>`;
}

const SHOWN_STAGES = [
  ["dispensing", "出卡"],
  ["writing", "写卡"],
  ["verifying", "核验"],
  ["presenting", "取卡"],
];

export function Issuing({ stage, title }) {
  const at = SHOWN_STAGES.findIndex(([name]) => name === stage);
  return html`<section><${Title}>${title}<//>
    <ol class="stages" aria-label="制卡进度">
      ${SHOWN_STAGES.map(([name, label], i) => html`<li class=${i < at ? "stage done" : i === at ? "stage now" : "stage"}
        aria-current=${i === at ? "step" : undefined}>${i < at ? "✔ " : ""}${label}</li>`)}
    </ol>
    <div class="spinner" aria-hidden="true"></div>
    <p class="lead" role="status" aria-live="polite">${stage === "presenting" ? "健康卡即将从出卡口送出" : "制卡约需1分钟，请不要离开，请不要拿走身份证"}</p></section>`;
}

export function Issued({ child }) {
  return html`<section class="done"><${Title}>${child ? "请取走孩子的健康卡和您的身份证" : "请取走您的健康卡和身份证"}<//>
    <ul class="result" aria-label="办理结果"><li>✔ ${child ? "孩子的居民健康卡办理成功" : "居民健康卡办理成功"}</li></ul>
    <p class="take">健康卡在出卡口，身份证在阅读区</p>
    ${child
      ? html`<p class="lead">孩子就诊请携带健康卡；孩子办好身份证后，可在本机插卡登记身份证号码。</p>`
      : html`<p class="lead">下次就诊请携带健康卡，插卡即可挂号、缴费。</p>`}
    <${Nav} home=${true} exit=${true} /></section>`;
}

export function IssueFailed({ title, words, next, code, again }) {
  return html`<section class="problem"><${Title}>${title}<//>
    <p class="lead" role="alert">${words}</p>
    ${next ? html`<p>${next}</p>` : null}
    <p>如需帮助，请到${app.config.value?.help_desk || "人工窗口"}办理。</p>
    ${code ? html`<p class="code">代码：${code}</p>` : null}
    ${again ? html`<button class="primary" onClick=${issuing.again}>重试</button>` : null}
    <nav class="nav" aria-label="导航">
      <button class="nav-button" onClick=${tasks.menu}>返回</button>
      <button class="nav-button nav-exit" onClick=${issuing.toCounter}>去人工窗口</button>
    </nav></section>`;
}
