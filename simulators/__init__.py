"""Virtual cards for tests and demos: the generic card OS (:mod:`simulators.cardos`) and the
contract every virtual card implements (:mod:`simulators._card`)."""

from simulators._card import PowerLost, VirtualCard

__all__ = ["PowerLost", "VirtualCard"]
