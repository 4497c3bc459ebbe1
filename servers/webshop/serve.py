"""Serve the WebShop app with waitress (a production WSGI server; Flask's debug server is never used)."""

from __future__ import annotations

import sys

from flask import Flask

__all__ = ["serve"]


DEFAULT_MAX_CONNECTIONS = 1024


def serve(
    app: Flask,
    host: str = "127.0.0.1",
    port: int = 3000,
    threads: int = 8,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
) -> None:
    """Block serving ``app`` on ``host:port`` with ``threads`` request threads (port 0: any free port).

    ``max_connections`` open (keep-alive) connections are served at once: one per environment client, so
    many workers can share the server (waitress's default of 100 would leave the 101st client hanging).

    Prints ``webshop: serving on http://HOST:PORT`` on stderr once the socket is listening; ``GET
    /health`` answers from then on.
    """
    from waitress import create_server

    server = create_server(
        app,
        host=host,
        port=port,
        threads=threads,
        connection_limit=max_connections,
        asyncore_use_poll=True,  # poll(), not select(): no 1024 file-descriptor ceiling
        channel_timeout=60,
        ident="hgpo-webshop",
        clear_untrusted_proxy_headers=True,
    )
    print(f"webshop: serving on http://{host}:{server.effective_port}", file=sys.stderr, flush=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
