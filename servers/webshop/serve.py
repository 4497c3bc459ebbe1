"""Serve the WebShop app with waitress (a production WSGI server; Flask's debug server is never used).

Connection slots are bounded in time as well as in number, so slow or silent clients (slowloris)
cannot keep new clients out:

- a connection must deliver each complete request within ``request_timeout`` seconds of its first
  byte (its first request: of the connection being accepted), or it is closed;
- a keep-alive connection may stay idle between requests for ``idle_timeout`` seconds;
- when the open connections reach ``max_connections``, connections that have been idle or sending an
  unfinished request for more than :data:`PRESSURE_GRACE` seconds are closed at once to make room
  (the environment client reconnects on its next request; its steps are idempotent).

A connection whose request is being served is never closed by these rules.
"""

from __future__ import annotations

import sys
import time

from flask import Flask

__all__ = ["DEFAULT_MAX_CONNECTIONS", "PRESSURE_GRACE", "serve"]


DEFAULT_MAX_CONNECTIONS = 1024
#: Seconds of idleness (or of an unfinished request) after which a connection loses its slot when
#: the server is at its connection limit.
PRESSURE_GRACE = 1.0


def _bounded_server(app: Flask, request_timeout: float, idle_timeout: float, **adjustments: object):
    """A waitress server whose maintenance also enforces the request deadline and the pressure rule."""
    from waitress.adjustments import Adjustments
    from waitress.channel import HTTPChannel
    from waitress.server import TcpWSGIServer

    class Channel(HTTPChannel):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)
            self.request_started = self.creation_time  # a new connection owes its first request

        def received(self, data: bytes) -> bool:
            if self.request is None:  # the first bytes of a new request
                self.request_started = time.time()
            return super().received(data)

    class Server(TcpWSGIServer):
        channel_class = Channel

        def maintenance(self, now: float) -> None:
            full = len(self._map) >= self.adj.connection_limit
            for channel in list(self.active_channels.values()):
                if channel.requests:  # being served: never cut
                    continue
                waiting = channel.request is not None or channel.last_activity <= channel.request_started
                since = now - (channel.request_started if waiting else channel.last_activity)
                limit = request_timeout if waiting else idle_timeout
                if since > limit or (full and since > PRESSURE_GRACE):
                    channel.will_close = True

    adj = Adjustments(**adjustments, channel_timeout=int(max(idle_timeout, request_timeout)) + 1, cleanup_interval=1)
    return Server(app, adj=adj)


def serve(
    app: Flask,
    host: str = "127.0.0.1",
    port: int = 3000,
    threads: int = 8,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
    request_timeout: float = 10.0,
    idle_timeout: float = 60.0,
) -> None:
    """Block serving ``app`` on ``host:port`` with ``threads`` request threads (port 0: any free port).

    ``max_connections`` open (keep-alive) connections are served at once: one per environment client, so
    many workers can share the server (waitress's default of 100 would leave the 101st client hanging).
    ``request_timeout`` and ``idle_timeout`` (seconds) bound how long a connection holds its slot
    without a complete request (module notes).

    Prints ``webshop: serving on http://HOST:PORT`` on stderr once the socket is listening; ``GET
    /health`` answers from then on.
    """
    server = _bounded_server(
        app,
        request_timeout,
        idle_timeout,
        host=host,
        port=port,
        threads=threads,
        connection_limit=max_connections,
        asyncore_use_poll=True,  # poll(), not select(): no 1024 file-descriptor ceiling
        asyncore_loop_timeout=1,
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
