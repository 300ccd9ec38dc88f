// The kiosk page's entry: render, then connect to the daemon. Touch-only: no long-press menu, no
// pinch, no text selection (kiosk.css), and a tap anywhere counts as activity for the idle timer.
import { render } from "preact";
import { html } from "./html.js";
import * as app from "./app.js";
import { connectEvents } from "./events.js";
import { Kiosk } from "./screens.js";
import { loadPrompts } from "./voice.js";

document.addEventListener("contextmenu", (event) => event.preventDefault());
for (const type of ["pointerdown", "keydown"]) document.addEventListener(type, app.touched, { capture: true, passive: true });

const root = document.getElementById("app");
root.textContent = ""; // the placeholder shown until the script runs
render(html`<${Kiosk} />`, root);

async function boot() {
  await loadPrompts();
  if (!(await app.start())) return;
  connectEvents({
    onEvent: app.onEvent,
    onReconnect: app.resync,
    onLost: app.lost,
  });
  document.body.dataset.ready = "1";
}

boot().catch(() => app.go("paused", {}, "service_paused"));
