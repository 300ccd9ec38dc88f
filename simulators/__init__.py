"""Virtual devices for tests, demos and testers — they depend on the library, never the reverse:

- :mod:`simulators.cardos` — a generic ISO 7816 card OS with anti-tearing; a
  :class:`cardservice.transport.VirtualCard`.
- :mod:`simulators.health` — the virtual Resident Health Card and PSAM, from the data dictionary.
- :mod:`simulators.vpcd` — the bridge that serves a virtual card to pcscd's vpcd reader;
  :mod:`simulators.control` its control socket; :mod:`simulators.feeder` a hopper of cards; ``card-sim``
  (:mod:`simulators.cli`) the command.
- :mod:`simulators.escpos` — a virtual ESC/POS receipt printer; :mod:`simulators.acquirer` — a
  simulated card acquirer; :mod:`simulators.dispenser` — a K720 card dispenser on a pty, its read position
  a vpcd reader; :mod:`simulators.idcard` — a resident ID-card reader (GA/T 467 SAM_V) on a pty.
- :mod:`simulators.demo` — what ``cardservice serve --demo`` adds to the daemon (found through the
  ``cardservice.demo`` entry point): the virtual card and PSAM, printer and acquirer as child processes,
  and the demo patient's seed data.
"""

__all__: list[str] = []
