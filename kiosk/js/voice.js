// Voice prompts: every screen, card event and error says what the screen says (recorded files in
// /kiosk/audio/<id>.opus, listed in prompts.json). One prompt at a time: a new one interrupts the last.
// 重听 plays the last again; the volume has three steps. The id last asked for is on <body data-prompt>,
// so tests assert which prompt was played, not the sound.

import { signal } from "@preact/signals";

export const VOLUMES = [0.4, 0.7, 1.0];
export const volumeStep = signal(1);
export const lastPrompt = signal("");
let prompts = {};
let player = null;

export async function loadPrompts() {
  try {
    const response = await fetch("/kiosk/audio/prompts.json", { cache: "no-store" });
    prompts = await response.json();
  } catch {
    prompts = {};
  }
}

export function promptText(id) {
  return prompts[id] || "";
}

export function say(id) {
  if (!id) return;
  lastPrompt.value = id;
  document.body.dataset.prompt = id;
  if (player) player.pause();
  player = new Audio(`/kiosk/audio/${id}.opus`);
  player.volume = VOLUMES[volumeStep.value];
  // Autoplay is allowed by the launcher's flag; a browser that refuses it must not break the screen.
  player.play().catch(() => {});
}

export function replay() {
  say(lastPrompt.value);
}

export function louder() {
  volumeStep.value = (volumeStep.value + 1) % VOLUMES.length;
  if (player) player.volume = VOLUMES[volumeStep.value];
}
