// The payment code of 扫码支付, drawn on the page from the text the daemon sends — no image from the
// network (a hospital kiosk has none) and no canvas. uqr (vendored from npm, MIT; Project Nayuki's
// encoder) makes the modules; they are drawn as one SVG path, each module a whole number of screen pixels
// with crisp edges, black on white, with the standard quiet zone of 4 modules: sharp for any phone camera.
// The picture is an even number of pixels wide, so that centring it never puts it on a half pixel.

import { encode } from "uqr";
import { html } from "./html.js";

const QUIET = 4; // modules of white around the code (ISO/IEC 18004)

/** The QR code of *text* (error correction M), about *size* px square; *label* names it for assistive
 *  technology. `data-modules` is how many modules wide it is, quiet zone included. */
export function QrCode({ text, size, label }) {
  const { data } = encode(text, { ecc: "M", border: QUIET });
  const modules = data.length;
  const scale = Math.max(1, Math.floor(size / modules)); // pixels a module
  const px = scale * modules + ((scale * modules) % 2);
  let path = "";
  data.forEach((row, y) => {
    let x = 0;
    while (x < modules) {
      if (!row[x]) {
        x += 1;
        continue;
      }
      const start = x;
      while (x < modules && row[x]) x += 1;
      path += `M${start} ${y}h${x - start}v1h${start - x}z`; // a run of dark modules in one rectangle
    }
  });
  return html`<svg class="qr" role="img" aria-label=${label} width=${px} height=${px}
      viewBox=${`0 0 ${px} ${px}`} shape-rendering="crispEdges" data-modules=${modules} data-scale=${scale}>
    <rect width=${px} height=${px} fill="#ffffff" />
    <path d=${path} fill="#000000" transform=${`scale(${scale})`} />
  </svg>`;
}
