"""A TCP relay on loopback that a test (or bench/recovery.py) can cut and restore: what the
processes behind it see of a database restart, without touching the real server."""

from __future__ import annotations

import contextlib
import socket
import threading


class _Pair:
    """A client and its upstream connection; the last of its two relay threads closes both
    (closing a socket another thread still reads could hand its number to a new one)."""

    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.sockets = (client, upstream)
        self.running = 2
        self.lock = threading.Lock()

    def shut(self) -> None:
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked reading it

    def relay_ended(self) -> None:
        self.shut()
        with self.lock:
            self.running -= 1
            last = self.running == 0
        if last:
            for sock in self.sockets:
                sock.close()


class TcpProxy:
    """127.0.0.1:`port` relays to `target`. cut() closes every relayed connection and
    refuses new ones (as a restarting server does); hang() takes connections and never
    answers them (a host that went silent); restore() relays again."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.connections = 0  # accepted since the start, for tests to see it was used
        self._pairs: set[_Pair] = set()
        self._held: list[socket.socket] = []  # accepted while hanging, never answered
        self._hanging = False
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread | None = None
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self.restore()

    def restore(self) -> None:
        if self._hanging:
            self.cut()
        self._listen(hanging=False)

    def hang(self) -> None:
        self.cut()
        self._listen(hanging=True)

    def _listen(self, *, hanging: bool) -> None:
        if self._listener is not None:
            return
        self._hanging = hanging
        self._listener = socket.create_server(("127.0.0.1", self.port), backlog=64)
        self._acceptor = threading.Thread(target=self._accept, args=(self._listener,), daemon=True)
        self._acceptor.start()

    def cut(self) -> None:
        listener, self._listener = self._listener, None
        if listener is None:
            return
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)  # wakes accept(); the acceptor closes it
        if self._acceptor is not None:
            self._acceptor.join(timeout=5)
        with self._lock:
            pairs = list(self._pairs)
            held, self._held = self._held, []
        for pair in pairs:
            pair.shut()
        for sock in held:
            sock.close()

    def close(self) -> None:
        self.cut()

    def _accept(self, listener: socket.socket) -> None:
        try:
            while True:
                try:
                    client, _ = listener.accept()
                except OSError:
                    return  # cut
                if self._hanging:
                    with self._lock:
                        self._held.append(client)
                    continue
                try:
                    upstream = socket.create_connection(self.target, timeout=5)
                except OSError:
                    client.close()
                    continue
                upstream.settimeout(None)
                pair = _Pair(client, upstream)
                with self._lock:
                    self._pairs.add(pair)
                    self.connections += 1
                for source, sink in ((client, upstream), (upstream, client)):
                    threading.Thread(target=self._relay, args=(pair, source, sink), daemon=True).start()
        finally:
            listener.close()

    def _relay(self, pair: _Pair, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._pairs.discard(pair)
            pair.relay_ended()
