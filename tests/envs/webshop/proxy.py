"""A loopback HTTP proxy that can lose the server's answer: it forwards a request, reads the server's
whole response, and then closes the client's connection instead of passing the response on (what a
proxy or a network failure does after the server has answered)."""

from __future__ import annotations

import socket
import threading


def _read_message(stream) -> bytes | None:
    """One HTTP/1.1 message (head and Content-Length body) from a binary file object; None at EOF."""
    head = b""
    while True:
        line = stream.readline()
        if not line:
            return None
        head += line
        if line in (b"\r\n", b"\n"):
            break
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    return head + stream.read(length)


class DroppingProxy:
    """Listens on a free loopback port and forwards to ``127.0.0.1:upstream_port``.

    ``drop_next(text)`` arms it: the next request whose first line contains ``text`` reaches the
    server, and its answer is dropped with the client's connection. ``dropped`` counts those.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._armed: list[str] = []
        self._lock = threading.Lock()
        self.dropped = 0
        self.forwarded: list[bytes] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def drop_next(self, text: str) -> None:
        with self._lock:
            self._armed.append(text)

    def _should_drop(self, request: bytes) -> bool:
        first = request.split(b"\r\n", 1)[0].decode("latin-1")
        with self._lock:
            for text in self._armed:
                if text in first:
                    self._armed.remove(text)
                    self.dropped += 1
                    return True
        return False

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        try:
            from_client, from_server = client.makefile("rb"), upstream.makefile("rb")
            while (request := _read_message(from_client)) is not None:
                upstream.sendall(request)
                response = _read_message(from_server)
                self.forwarded.append(request.split(b"\r\n", 1)[0])
                if response is None or self._should_drop(request):
                    return  # the server answered; the client never hears it
                client.sendall(response)
        except OSError:
            pass
        finally:
            client.close()
            upstream.close()

    def close(self) -> None:
        self._listener.close()
