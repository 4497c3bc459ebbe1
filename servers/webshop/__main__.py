"""``python -m servers.webshop serve|generate|index ...``: the server's command line without the ``hgpo``
dispatcher (what the environments' embedded launcher and the Docker image run)."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
