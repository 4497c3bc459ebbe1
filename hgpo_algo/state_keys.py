"""Canonical state keys of observation texts: one hash, standard library only.

Environments and wrappers import this module to key what the agent saw; it pulls in neither NumPy nor
pyarrow, so an environment that reports state keys stays light.

    >>> text_state_key("You are in the middle of a room.")
    '43064db8046457b25e5ad0a9a36dc6c5'
"""

from __future__ import annotations

import hashlib

__all__ = ["STATE_KEY_BYTES", "text_state_key"]

STATE_KEY_BYTES = 16
"""Digest size of :func:`text_state_key` in bytes (32 hex characters)."""


def text_state_key(text: str) -> str:
    """The canonical state key of an observation text: BLAKE2b (16 bytes) of its UTF-8 bytes, as hex.

    Identical text gives an identical key in every process, run and machine (unlike ``hash()``); any
    difference in the text, whitespace included, gives a different key. Text that is not valid Unicode
    (a lone surrogate) is keyed by its ``surrogatepass`` encoding, so every ``str`` has a key.
    """
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=STATE_KEY_BYTES).hexdigest()
