"""Byte relays around the SuperLink, which lives in a network namespace of its own (:mod:`private_link`).

- :class:`SocketRelay` inside that namespace: a Unix socket in the operator's private folder, relayed to the
  SuperLink's port there. It is the only way in: the folder is the operator's alone (mode 0700).
- :class:`OperatorRelay` on the server machine: a port on 127.0.0.1 for Flower's CLI (fedjava's own ``flwr``
  commands and the operator's), relayed to that Unix socket, and only for connections made by the operator's
  user id: a connection from another local user is closed before a byte is relayed.

Both relay bytes (TLS stays end to end between the CLI and the SuperLink) and know nothing of HTTP.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
from collections.abc import Callable
from pathlib import Path

_BUFFER = 1 << 16


def splice(one: socket.socket, other: socket.socket) -> None:
    """Copy bytes both ways until either side ends, then close both (runs in the calling thread plus one)."""

    def pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(_BUFFER):
                target.sendall(data)
        except OSError:
            pass
        for sock in (source, target):  # wake the other direction too
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    helper = threading.Thread(target=pump, args=(other, one), daemon=True)
    helper.start()
    pump(one, other)
    helper.join()
    one.close()
    other.close()


class _Relay:
    """Accept on ``listener``; for each connection that ``admit`` lets in, splice it to ``connect()``."""

    def __init__(
        self,
        listener: socket.socket,
        connect: Callable[[], socket.socket],
        admit: Callable[[socket.socket], bool] = lambda conn: True,
    ):
        self.listener, self.connect, self.admit = listener, connect, admit
        self.thread = threading.Thread(target=self._accept, name="relay", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return  # stopped
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            if not self.admit(conn):
                conn.close()
                return
            upstream = self.connect()
        except OSError:
            conn.close()
            return
        splice(conn, upstream)


class SocketRelay(_Relay):
    """Unix socket ``path`` (made 0600, in a 0700 folder) -> ``127.0.0.1:port`` of this network namespace."""

    def __init__(self, path: Path, port: int):
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        previous = os.umask(0o177)  # the socket file is born 0600: no moment when others may connect
        try:
            listener.bind(str(path))
        finally:
            os.umask(previous)
        listener.listen(128)
        super().__init__(listener, lambda: socket.create_connection(("127.0.0.1", port), timeout=None))


class OperatorRelay(_Relay):
    """``127.0.0.1:port`` (0: a free one) -> the Unix socket ``path``, for connections of user ``uid`` only.

    ``on_refused(uid)`` is told of each connection turned away (uid None: its owner could not be found).
    """

    def __init__(self, path: Path, uid: int, on_refused: Callable[[int | None], None], port: int = 0):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", port))
        listener.listen(64)
        self.port = listener.getsockname()[1]

        def admit(conn: socket.socket) -> bool:
            owner = loopback_peer_uid(conn)
            if owner != uid:
                on_refused(owner)
                return False
            return True

        def connect() -> socket.socket:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(str(path))
            return sock

        super().__init__(listener, connect, admit)


def loopback_peer_uid(conn: socket.socket) -> int | None:
    """The user id that owns the other end of a TCP connection on 127.0.0.1 (Linux: /proc/net/tcp).

    The peer's socket is listed there with its local address = our remote address and its owner's uid; the
    kernel writes that uid, so a peer cannot claim another. None when the entry is not found.
    """
    if conn.family != socket.AF_INET:
        return None
    mine, theirs = conn.getsockname(), conn.getpeername()
    wanted = (_hex_address(*theirs), _hex_address(*mine))
    try:
        lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if (fields[1], fields[2]) == wanted:
            return int(fields[7])
    return None


def _hex_address(host: str, port: int) -> str:
    """``127.0.0.1:41234`` as /proc/net/tcp writes it: the 32-bit address as this machine stores it, both in hex."""
    return f"{int.from_bytes(socket.inet_aton(host), sys.byteorder):08X}:{port:04X}"
