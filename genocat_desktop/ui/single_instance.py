"""One running app per user: a second launch hands its files to the open window and exits.

A double-click on a FASTA file runs ``genocat-desktop FILE``. While a window is open, that launch
connects to the window's :class:`~PySide6.QtNetwork.QLocalServer` (see :func:`server_name`), sends
its files and the catalog it was asked to open (one JSON line), waits for the window's ``ok``, and
exits 0. The window raises itself and imports the files into its open catalog, whose count then
updates in place: no second window with a stale count over the same catalog.

The rule when the launch named a catalog (``--catalog X``) other than the one the window has open:
nothing is imported (importing into a catalog the user did not ask for would be worse than not
importing); the window comes to the front and says which catalog it has open and how to import the
files into the other one. A launch with no ``--catalog`` (what a file manager runs) means "the open
catalog".

The name is per user and per settings location, so an isolated configuration (a test, a second
account) has its own instance. After a crash the socket file is left behind; a connect to it fails,
and :func:`claim` removes it (``QLocalServer.removeServer``) before listening, so it never blocks
the start.
"""

from __future__ import annotations

import getpass
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from PySide6.QtCore import QObject, QSettings, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from genocat_desktop.ui.settings import APP, ORG

__all__ = [
    "CONNECT_TIMEOUT_MS", "Handoff", "InstanceServer", "attach", "claim", "deliver", "hand_over", "server_name",
    "start",
]

#: How long a second launch waits for the running window to connect and to answer.
CONNECT_TIMEOUT_MS: Final = 3000
#: A request longer than this is not a list of file names: the connection is dropped.
MAX_REQUEST_BYTES: Final = 1 << 20


@dataclass(frozen=True, slots=True)
class Handoff:
    """What a second launch asks of the running window."""

    files: list[str] = field(default_factory=list)  # absolute paths
    catalog: str | None = None  # ``--catalog`` as given (None: whatever catalog is open)

    def encode(self) -> bytes:
        """One JSON line."""
        return json.dumps({"files": self.files, "catalog": self.catalog}).encode() + b"\n"

    @staticmethod
    def decode(data: bytes) -> Handoff | None:
        """The request in ``data``, or ``None`` if it is not one."""
        try:
            value = json.loads(data.decode())
        except (UnicodeDecodeError, json.JSONDecodeError):
            return None
        if not isinstance(value, dict) or not isinstance(value.get("files"), list):
            return None
        catalog = value.get("catalog")
        return Handoff([str(f) for f in value["files"]], str(catalog) if catalog else None)


def server_name() -> str:
    """The local server's name: one per user and per settings file (``QSettings``' location)."""
    settings_file = QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORG, APP).fileName()
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no user name in the environment or the password database
        user = str(Path.home())
    digest = hashlib.sha256(f"{user}\0{settings_file}".encode()).hexdigest()[:16]
    return f"genocat-{digest}"


def hand_over(request: Handoff, name: str | None = None, timeout_ms: int = CONNECT_TIMEOUT_MS) -> bool:
    """Send ``request`` to a running window; True if it took it (this launch should then exit).

    False when no window listens (none runs, or a crashed one left its socket file behind).
    """
    socket = QLocalSocket()
    socket.connectToServer(name or server_name())
    if not socket.waitForConnected(timeout_ms):
        return False
    socket.write(request.encode())
    socket.flush()
    answer = b""
    while b"\n" not in answer and socket.waitForReadyRead(timeout_ms):
        answer += bytes(socket.readAll().data())
    socket.disconnectFromServer()
    # A window that accepted the connection but did not answer in time is busy, not gone: starting
    # a second window over the same catalog is what this module prevents, so the launch still ends.
    return answer.startswith(b"ok") or not answer


class InstanceServer(QObject):
    """The running window's end: receives :class:`Handoff` requests, answers ``ok``, emits :attr:`received`."""

    #: A complete request from a second launch.
    received = Signal(object)

    def __init__(self, server: QLocalServer, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.server = server
        server.setParent(self)
        server.newConnection.connect(self._accept)

    def _accept(self) -> None:
        while (socket := self.server.nextPendingConnection()) is not None:
            buffer = bytearray()
            socket.readyRead.connect(lambda s=socket, b=buffer: self._read(s, b))
            socket.disconnected.connect(socket.deleteLater)

    def _read(self, socket: QLocalSocket, buffer: bytearray) -> None:
        buffer += bytes(socket.readAll().data())
        if len(buffer) > MAX_REQUEST_BYTES:
            socket.abort()
            return
        if b"\n" not in buffer:
            return
        request = Handoff.decode(bytes(buffer).split(b"\n", 1)[0])
        socket.write(b"ok\n" if request is not None else b"error\n")
        socket.flush()
        socket.disconnectFromServer()
        if request is not None:
            self.received.emit(request)

    def close(self) -> None:
        """Stop listening (the socket file is removed)."""
        self.server.close()


def claim(name: str | None = None, parent: QObject | None = None) -> InstanceServer | None:
    """Listen as the running instance; ``None`` if that is impossible (the app then runs on alone).

    A socket file left by a crashed instance is removed first (the caller has found that nothing
    answers on it).
    """
    name = name or server_name()
    server = QLocalServer()
    server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
    if not server.listen(name):
        QLocalServer.removeServer(name)
        if not server.listen(name):
            return None
    return InstanceServer(server, parent)


def _same_catalog(asked: str, location: str) -> bool:
    if "://" in asked or "://" in location:
        return asked.rstrip("/") == location.rstrip("/")
    return Path(asked).expanduser().resolve() == Path(location).expanduser().resolve()


def deliver(window: Any, request: Handoff, open_location: Callable[[], str | None]) -> str | None:
    """Do what a second launch asked in ``window`` (a :class:`~genocat_desktop.ui.main_window.MainWindow`).

    The window comes to the front; the files are imported into its open catalog, unless the request
    named another catalog (see the module's docstring).

    Returns
    -------
    str or None
        The message shown when the files were not imported, else ``None``.
    """
    if window.isMinimized():
        window.showNormal()
    window.raise_()
    window.activateWindow()
    location = open_location()
    if request.catalog and location and not _same_catalog(request.catalog, location):
        names = ", ".join(Path(f).name for f in request.files) or "no file"
        message = (f"GenoCat is already open on the catalog {location}; {names} not imported into "
                   f"{request.catalog}. Use File → Open catalog… to switch, then import the files.")
        window.statusBar().showMessage(message, 20000)
        return message
    if request.files:
        window.import_paths(request.files)
    return None


def attach(server: InstanceServer, window: Any, location: str | None) -> None:
    """Let ``window`` (started on ``location``) answer the launches ``server`` receives."""
    server.setParent(window)

    def open_location() -> str | None:
        summary = window.summary
        return summary.location if summary is not None else location

    server.received.connect(lambda request: deliver(window, request, open_location))


def start(location: str | None, files: Sequence[str]) -> tuple[bool, InstanceServer | None]:
    """At start-up: hand the files to a running window, or become the running instance.

    Returns
    -------
    tuple
        ``(True, None)`` if a running window took the launch (exit now), else ``(False, server)``
        with this process's server (``None`` if it could not listen).
    """
    name = server_name()
    if hand_over(Handoff(list(files), location), name):
        return True, None
    return False, claim(name)
