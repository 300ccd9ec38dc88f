"""Card feeders and dispensers: what takes a card out of the reader and brings the next one.

- :func:`card_sim_feeder` — card-sim's virtual feeder, ejecting through its control socket.

Card dispensers (发卡机) on serial lines are :mod:`drivers.dispenser`.
"""

from drivers.feeders._card_sim import (
    ControlError,
    card_sim_control_path,
    card_sim_ejector,
    card_sim_feeder,
    default_control_path,
    send_control,
)

__all__ = [
    "ControlError",
    "card_sim_control_path",
    "card_sim_ejector",
    "card_sim_feeder",
    "default_control_path",
    "send_control",
]
