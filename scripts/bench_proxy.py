"""A loopback TCP forwarder that scripts/bench.py can switch off, to take a WebSocket stream down
the way a lost endpoint does (connections refused) rather than by dropping it once.

    python scripts/bench_proxy.py TARGET_HOST TARGET_PORT

Prints the port it listens on, then reads commands from stdin, one a line, answering "ok":
``down`` closes the listener and every connection; ``up`` listens again on the same port.
"""

from __future__ import annotations

import socket
import sys
import threading


class Forwarder:
    """Accepts on 127.0.0.1 and pipes each connection to the target, both ways."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._listener: socket.socket | None = None
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()

    def up(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            # On Linux, close() alone leaves a socket blocked in accept() listening.
            _close(listener)
        with self._lock:
            connections, self._connections = self._connections, set()
        for connection in connections:
            _close(connection)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed by down()
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _close(client)
                continue
            upstream.settimeout(None)
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._connections.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            _close(sock)
            with self._lock:
                self._connections.discard(sock)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


def main() -> int:
    forwarder = Forwarder((sys.argv[1], int(sys.argv[2])))
    forwarder.up()
    print(forwarder.port, flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == "down":
            forwarder.down()
        elif command == "up":
            forwarder.up()
        print("ok", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
