// Card, reader and printer events over Server-Sent Events, and the progress of a payment or a card issuance
// this page is making (`payment.progress`, `issuance.progress`: the daemon sends them to that client only).
// EventSource cannot send headers, so the stream authenticates with a one-time ticket (POST
// /v1/events/tickets, 60 s); EventSource's own reconnect would reuse the spent ticket, so on any error the
// stream is closed and reopened with a fresh ticket, backing off up to 10 s. After a reconnect
// `onReconnect` lets the page re-read the reader's state: events sent while the stream was down are not
// replayed.

import { post } from "./api.js";

const TYPES = [
  "card.inserted", "card.removed", "card.error", "reader.added", "reader.removed", "sam.inserted",
  "sam.removed", "service.down", "service.up", "printer.problem", "printer.ready", "idcard.placed",
  "idcard.removed", "idcard.error", "payment.progress", "issuance.progress", "closed", "overflow",
];

export function connectEvents({ onEvent, onReconnect, onLost }) {
  let source = null;
  let delay = 1000;
  let stopped = false;
  let connectedOnce = false;
  let retryTimer = null;

  async function open() {
    if (stopped) return;
    let ticket;
    try {
      ticket = (await post("/v1/events/tickets", undefined, { visit: false, timeout: 10000 })).ticket;
    } catch (error) {
      if (error.status === 401 || error.status === 403) onLost(error);
      retry();
      return;
    }
    source = new EventSource(`/v1/events?ticket=${encodeURIComponent(ticket)}`);
    source.addEventListener("open", () => {
      delay = 1000;
      if (connectedOnce) onReconnect();
      connectedOnce = true;
    });
    source.addEventListener("error", () => {
      source.close();
      source = null;
      retry();
    });
    for (const type of TYPES) {
      source.addEventListener(type, (message) => {
        let event;
        try {
          event = JSON.parse(message.data);
        } catch {
          return;
        }
        if (type === "closed" || type === "overflow") {
          source.close();
          source = null;
          retry();
          return;
        }
        onEvent(event);
      });
    }
  }

  function retry() {
    if (stopped || retryTimer !== null) return;
    retryTimer = setTimeout(() => {
      retryTimer = null;
      open();
    }, delay);
    delay = Math.min(delay * 2, 10000);
  }

  open();
  return () => {
    stopped = true;
    if (source) source.close();
    if (retryTimer !== null) clearTimeout(retryTimer);
  };
}
