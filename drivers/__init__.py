"""Device drivers: card readers (PC/SC lives in :mod:`cardservice.transport`; serial readers via pyserial)
and receipt printers (ESC/POS). Populated by the printing and serial-device work; nothing here yet."""

__all__: list[str] = []
