// htm bound to Preact: JSX-like templates with no build step. Interpolated values are text, never markup,
// so what the HIS sends (names, titles) cannot inject into the page.
import { h } from "preact";
import htm from "htm";

export const html = htm.bind(h);
