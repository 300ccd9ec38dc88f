// A kiosk page that cannot work (launch link spent or expired, session gone) closes itself after a
// while: under the kiosk launcher Chromium then exits and systemd starts it again with a new launch
// token. In an ordinary browser tab window.close() does nothing, and the page stays as it is.
export const CLOSE_AFTER_MS = 15000;

export function closeSoon() {
  setTimeout(() => window.close(), CLOSE_AFTER_MS);
}

// The expired page loads this file for that alone (its body says so); the kiosk page imports closeSoon.
if (document.body?.dataset.closing === "1") closeSoon();
