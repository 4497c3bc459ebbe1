"""Where the server keeps what it derives from a catalogue (search indexes, goal shuffles).

``$HGPO_WEBSHOP_CACHE`` if set, else ``~/.cache/hgpo/webshop``. Everything there can be deleted; it is
rebuilt on the next start.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["default_cache_dir"]


def default_cache_dir() -> Path:
    env = os.environ.get("HGPO_WEBSHOP_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "hgpo" / "webshop"
