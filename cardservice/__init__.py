"""cardservice: middleware and terminal service for China's Resident Health Card (居民健康卡, WS/T 543).

Layers, bottom up (each has one home; none reaches around another):

- :mod:`cardservice.errors`    — the one exception tree (``CardError``).
- :mod:`cardservice.apdu`      — pure APDU values, builders, status words, TLV/FCI, GET RESPONSE
  handling, masking tracer.
- :mod:`cardservice.keys`      — SM4/SM3/SM2 and 3DES recipes, MACs, key diversification, key store,
  SAM protocol.
- :mod:`cardservice.healthcard` — the Resident Health Card's data dictionary, codecs and typed models.
- :mod:`cardservice.transport` — moving APDU bytes: PC/SC (pyscard) and in-process (the simulator).
"""

__version__ = "0.1.0"
