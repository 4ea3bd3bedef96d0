"""The host core on its page, against the real server: :class:`LivePage` is the shared
recording page (:mod:`tests.helpers.host_ports`) whose network is the in-memory server of
:mod:`tests.helpers.live_core` (the real server core, its edge, its services and a real
store), on one fake clock.

Nothing runs by itself: each input is followed by :meth:`LivePage.pump`, which carries
everything queued until every side is quiet; time moves only with :meth:`LivePage.advance`.
Faults happen only where a real network or a broken server has them (:class:`Wire`); the
render worker, another process, is played by :class:`RenderWorker`, writing its rows.
"""

from __future__ import annotations

import time
from collections.abc import Hashable
from dataclasses import dataclass, field
from itertools import count
from typing import Any

import pytest

from cwmn_web.client.compat import REQUIRED_FEATURES
from cwmn_web.client.controller import ClientConfig, HostController
from cwmn_web.client.states import State
from cwmn_web.errors import CwmnError, NetworkError
from cwmn_web.protocol import codec
from cwmn_web.protocol.messages import (
    EndSession,
    Hello,
    Message,
    MirrorFrame,
    SessionStarted,
    SetPrivacy,
    StartSession,
)
from cwmn_web.server.db import SendStatus, Store
from cwmn_web.server.db.replays import ReplayRecord
from cwmn_web.server.host_socket import WATCH_INTERVAL
from cwmn_web.server.replays.mail import video_url
from cwmn_web.server.sites import answer_domain_info, hostname_of

from .host_ports import RecordingPage, exchange
from .live_core import ORIGIN, SERVER_URL, ConnId, LiveHarness, MemoryServer, scratch_dir

__all__ = [
    "FEATURES",
    "HOST",
    "PAGE",
    "SERVER",
    "SITE_CAPTURE",
    "LivePage",
    "RenderWorker",
    "Wire",
    "booted",
    "call_error",
    "close_pages",
    "host_of",
    "in_session",
    "make",
]

SERVER = SERVER_URL
PAGE = ORIGIN + "/cart?x=1"
FEATURES = {name: True for name in REQUIRED_FEATURES}
HOST = {"hostName": "Host Name", "hostEmail": "noreply@clickwithmenow.com", "isReplay": False}
#: The masking rules a page keeps in the resume entry for the next page (the site's defaults).
SITE_CAPTURE = {"mask": ["[data-cwmn-mask]", ".cwmn-mask"], "block": ["[data-cwmn-block]"]}
_pages = count(1)
_open: list[LivePage] = []


def close_pages() -> None:
    """Shut the servers of the pages made so far down and close their stores (after each
    test: a replay's recording keeps files open)."""
    while _open:
        page = _open.pop()
        page.server.shutdown()
        page.db.engine.dispose()


@dataclass(eq=False)
class Socket:
    """One socket the host core opened, as the network carries it."""

    name: str
    conn: ConnId
    closed: bool = False
    heard: int | None = None
    """Half-open: how many more of the server's frames reach the host (None: all); those
    after are lost."""


@dataclass
class Wire:
    """The host's network, as a test sees it: a tap on what the host sent, and the faults
    a real network or a broken server has (and nothing else)."""

    received: list[Message] = field(default_factory=list)
    """Every message the host sent (whether it reached the server or was lost)."""
    frames: list[MirrorFrame] = field(default_factory=list)
    """The mirror frames that reached the server."""
    answers: list[Message] = field(default_factory=list)
    """Every message of the server's that reached the host."""
    sockets: list[Socket] = field(default_factory=list)
    refuse: CwmnError | None = None
    """Sockets the host opens are refused with this error."""
    hang: bool = False
    """Sockets the host opens never open."""
    silent: bool = False
    """The server stopped answering: frames to it are lost."""
    hold: bool = False
    """Frames to the server are slow: they wait in transit until ``LivePage.release``."""
    deaf_after: type[Message] | None = None
    """Once a socket has sent a message of this type, what the server sends on it from
    then on is lost (the connection is half-open: the host's frames still arrive)."""

    @property
    def client(self) -> Socket | None:
        """The last socket the host opened."""
        return self.sockets[-1] if self.sockets else None


class LivePage(RecordingPage):
    """The host page and its network around one :class:`HostController`, against the real
    server (:class:`MemoryServer`) over a real store, on the harness's fake clock."""

    def __init__(
        self,
        domain_info: dict[str, Any] | None = None,
        fetch_error: CwmnError | None = None,
        connect_error: CwmnError | None = None,
        **server: Any,
    ) -> None:
        super().__init__(lambda: 1000.0, domain_info, fetch_error)
        #: A domain info the test fixes; else each fetch gets what the server's route answers.
        self.fixed_domain_info = domain_info is not None
        folder = scratch_dir()
        self.db = Store(f"sqlite:///{folder}/cwmn-{next(_pages)}.sqlite")
        self.db.create()
        self.live = LiveHarness(self.db, data_dir=folder, **server)
        # From the wall clock's second: the server's services stamp some rows with it.
        self.live.clock.now = float(int(time.time()))
        _open.append(self)
        self.wire = Wire(refuse=connect_error)
        self.worker = RenderWorker(self)
        self.host: HostController | None = None
        self.connected: list[str] = []
        self.opened_at: list[float] = []
        self._live: dict[str, Socket] = {}
        self._hanging: list[str] = []
        self._in_transit: list[tuple[Socket, Message]] = []
        self._calls = 0

    @property
    def server(self) -> MemoryServer:
        return self.live.server

    @property
    def time(self) -> float:
        """The fake clock the core and the server are driven with (seconds)."""
        return self.live.now

    # -- what the server has ----------------------------------------------------------------
    @property
    def entry(self) -> dict[str, Any]:
        """The resume entry the page keeps (the real session id and resume token)."""
        entry = self.stored.get("cwmn:session")
        assert entry is not None, "no session entry"
        return entry

    @property
    def session_id(self) -> str:
        return str(self.entry["sessionId"])

    @property
    def resume_token(self) -> str:
        return str(self.entry["token"])

    @property
    def served_domain_info(self) -> dict[str, Any]:
        """What the server's ``/api/domain-info`` route answers the page's origin now."""
        host = hostname_of(ORIGIN)
        return answer_domain_info(self.db.site_for_host(host), host)

    def answer_fetches(self, core: HostController, now: float) -> bool:
        """Domain-info fetches get the real route's answer (the site's current settings),
        unless the test fixed one."""
        if not self.fixed_domain_info:
            self.domain_info = self.served_domain_info
        return super().answer_fetches(core, now)

    def site_settings(self, **changes: Any) -> None:
        """The site's owner changes its settings (what the server hands sessions)."""
        self.db.update_settings("default", changes)

    def previous_page(self, privacy: bool = False) -> dict[str, Any]:
        """A session its host started on the site's previous page (turning privacy on, if
        ``privacy``), then left; the entry that page kept for the next one."""
        return self._previous(SetPrivacy(ref=3, enabled=True) if privacy else None)

    def recording_replay(self) -> dict[str, Any]:
        """A replay started on the previous page, still recording; the entry that page kept
        for the next one."""
        return self._previous(None, replay=True)

    def ended_replay(self) -> dict[str, Any]:
        """A replay recorded and ended on the previous page (its render job queued); the
        entry that page kept for the next one."""
        return {**self._previous(EndSession(ref=3), replay=True), "replay": True}

    def _previous(self, then: Message | None, replay: bool = False) -> dict[str, Any]:
        """Start a session on another page, send ``then``, and leave (closing with 1001, as
        a page that navigates does); the session id and resume token it kept."""
        wire = self.live.host()
        wire.send(Hello(ref=1, page_url=ORIGIN + "/before"))
        wire.send(StartSession(ref=2, host_name="Ann", host_email="ann@example.com",
                               is_replay=replay, page_id="previous"))  # fmt: skip
        if then is not None:
            wire.send(then)
        self.live.pump()
        started = wire.answer(2)
        assert isinstance(started, SessionStarted), started
        self.live.close(wire, 1001)
        return {"token": started.resume_token, "sessionId": started.session_id}

    # -- the network (``host_ports.Network``): sockets to the server ------------------------
    def open_socket(self, core: HostController, name: str, now: float) -> None:
        self.connected.append(core.config.ws_url)
        self.opened_at.append(now)
        if self.wire.refuse is not None:
            core.lost(name, self.wire.refuse, now)
        elif not self.server.admits(ORIGIN):
            # The server refuses the handshake: a browser only sees the socket fail.
            core.lost(name, NetworkError("the connection to the CWMN server closed"), now)
        elif self.wire.hang:
            self._hanging.append(name)
        else:
            socket = Socket(name, self.server.open_host())
            self.wire.sockets.append(socket)
            self._live[name] = socket
            core.connected(name, now)

    def close_socket(self, name: str) -> None:
        socket = self._live.pop(name, None)
        if socket is not None:
            socket.closed = True
            self.server.gone(socket.conn)

    def send_socket(self, core: HostController, name: str, message: Message, now: float) -> None:
        self.wire.received.append(message)
        socket = self._live.get(name)
        if socket is None or self.wire.silent:
            return
        if self.wire.hold:
            self._in_transit.append((socket, message))
            return
        self._arrive(socket, message)

    def _arrive(self, socket: Socket, message: Message) -> None:
        if isinstance(message, MirrorFrame):
            self.wire.frames.append(message)
        deaf_after = self.wire.deaf_after
        if deaf_after is not None and isinstance(message, deaf_after) and socket.heard is None:
            socket.heard = len(self.server.outbound[socket.conn])
        self.server.receive(socket.conn, codec.encode(message))

    def carry_back(self, core: HostController, now: float) -> bool:
        busy = False
        for name, socket in list(self._live.items()):
            texts = self.server.take(socket.conn)
            busy = busy or bool(texts)
            if socket.heard is not None:
                texts, socket.heard = texts[: socket.heard], 0
            for text in texts:
                message = codec.decode(text)
                self.wire.answers.append(message)
                core.receive(name, message, now)
            if socket.conn in self.server.closed:
                busy = True
                self._lose(socket, None)
        return busy

    def _lose(self, socket: Socket, close_code: int | None) -> None:
        socket.closed = True
        del self._live[socket.name]
        self.server.gone(socket.conn, close_code)
        self.core.lost(socket.name, NetworkError("the connection was closed"), self.time)

    # -- the harness's side ---------------------------------------------------------------
    def exchange(self, server: MemoryServer) -> bool:
        return exchange(self.core, self, self, self.time)

    def next_due(self) -> float | None:
        return self.core.next_due()

    def tick(self, now: float) -> None:
        self.core.tick(now)

    # -- driving the core ---------------------------------------------------------------
    @property
    def core(self) -> HostController:
        assert self.host is not None
        return self.host

    def pump(self) -> None:
        """Carry everything queued between the core, the page and the server until quiet."""
        self.live.pump()

    def release_fetches(self) -> None:
        """Answer the fetches held so far (``hold_fetches``), and stop holding."""
        self.release_held()
        self.pump()

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass: the core and the server are ticked at each deadline."""
        self.live.advance(seconds)

    def boot(self) -> None:
        self.core.boot(self.time)
        self.pump()

    def start_call(self, path: str, args: tuple[Any, ...] = ()) -> int:
        """Make the call ``path`` (its result is in :attr:`results` once settled)."""
        self._calls += 1
        self.core.call(self._calls, path, args, self.time)
        self.pump()
        return self._calls

    def outcome(self, call_id: Hashable) -> Any:
        """The value the call ``call_id`` resolved with; raises the error it failed with."""
        assert call_id in self.results, "the call has not settled"
        value, error = self.results[call_id]
        if error is not None:
            raise error
        return value

    def call(self, path: str, args: tuple[Any, ...] = ()) -> Any:
        """Call ``path`` and answer what it settled with (it must settle at once)."""
        return self.outcome(self.start_call(path, args))

    def capture_frame(
        self, kind: str, raw: dict[str, Any], t: Any = None, early: bool = False
    ) -> None:
        self.core.on_capture(kind, raw, t, self.time, early=early)
        self.pump()

    def capture_failed(self, early: bool) -> None:
        self.core.on_capture_failed(early, self.time)
        self.pump()

    def audio(self, message: dict[str, Any]) -> None:
        self.core.on_audio(message, self.time)
        self.pump()

    # -- the network's faults ---------------------------------------------------------------
    def push(self, message: Message) -> None:
        """A frame the real server cannot be made to send arrives on the host's last socket
        (each use says why it cannot be a real event)."""
        socket = self.wire.client
        assert socket is not None
        if not socket.closed:
            self.core.receive(socket.name, codec.decode(codec.encode(message)), self.time)
        self.pump()

    def release(self) -> None:
        """The frames held in transit (``wire.hold``) arrive, in order."""
        self.wire.hold = False
        held, self._in_transit = self._in_transit, []
        for socket, message in held:
            if not socket.closed:
                self._arrive(socket, message)
        self.pump()

    def drop(self) -> None:
        """The network breaks: the host's last socket is lost (the server sees 1006)."""
        socket = self.wire.client
        assert socket is not None and not socket.closed
        self._lose(socket, 1006)
        self.pump()

    @property
    def hanging(self) -> list[str]:
        """Sockets the host asked for that never opened (``wire.hang``)."""
        return list(self._hanging)


WORKER = "worker-test"


class RenderWorker:
    """The render worker (``replays/worker.py``, another process) as a test plays it: it
    writes the replay's row as the worker does; then the time a watching host takes to
    read it passes (``WATCH_INTERVAL``)."""

    def __init__(self, page: LivePage) -> None:
        self.page = page

    @property
    def replay_id(self) -> str:
        """The replay (the session the page recorded last)."""
        rows = [r for r in self.page.db.session_rows() if r["is_replay"]]
        assert rows, "no replay"
        return str(rows[-1]["id"])

    @property
    def record(self) -> ReplayRecord:
        record = self.page.db.replays.get(self.replay_id)
        assert record is not None
        return record

    @property
    def video_url(self) -> str:
        """The URL of the rendered video."""
        return video_url(self.record, self.page.live.server.replays.key)

    def _written(self) -> None:
        self.page.advance(WATCH_INTERVAL)

    def claim(self) -> None:
        """It takes the queued job (``claim``)."""
        assert self.page.db.replays.claim(WORKER) is not None
        self._written()

    def progress(self, percent: float, stage: str, eta_seconds: float) -> None:
        """Its renderer reports progress (claiming the job first if queued)."""
        if self.record.worker_id != WORKER:
            assert self.page.db.replays.claim(WORKER) is not None
        self.page.db.replays.progress(self.replay_id, WORKER, percent, stage, eta_seconds)
        self._written()

    def complete(self, delivering: bool = False, read: bool = True) -> None:
        """The video is rendered (``complete``); with ``delivering``, the worker has
        claimed the queued email right after (``deliver_queued``) and is sending it. With
        ``read`` False, no watching host has read the row yet."""
        replays = self.page.db.replays
        if self.record.worker_id != WORKER:
            assert replays.claim(WORKER) is not None
        assert replays.complete(self.replay_id, WORKER, 1234)
        if delivering:
            assert replays.claim_send(self.replay_id) is not None
        if read:
            self._written()

    def sent(self, status: SendStatus) -> None:
        """The worker's send of the queued email is done (``finish_send``)."""
        assert self.page.db.replays.finish_send(self.replay_id, status, True)
        self._written()

    def fail(self, error: str) -> None:
        """The render failed (``fail``)."""
        replays = self.page.db.replays
        if self.record.worker_id != WORKER:
            assert replays.claim(WORKER) is not None
        assert replays.fail(self.replay_id, WORKER, error)
        self._written()


def make(ports: LivePage | None = None, **features: bool) -> tuple[HostController, LivePage]:
    ports = ports or LivePage()
    config = ClientConfig(server=SERVER, page_url=PAGE, features={**FEATURES, **features})
    return host_of(ports, config), ports


def host_of(ports: LivePage, config: ClientConfig) -> HostController:
    """A host core on ``ports``'s page with ``config``, wired into its harness."""
    ports.host = HostController(ports, config)
    if ports not in ports.live.sides:
        ports.live.sides.append(ports)
    return ports.host


def booted(ports: LivePage | None = None) -> tuple[HostController, LivePage]:
    controller, ports = make(ports)
    ports.boot()
    assert controller.state is State.NO_SESSION
    return controller, ports


def in_session(ports: LivePage | None = None) -> tuple[HostController, LivePage]:
    controller, ports = booted(ports)
    ports.call("session.start", (dict(HOST),))
    assert controller.state is State.IN_SESSION
    return controller, ports


def call_error(ports: LivePage, path: str, *args: Any) -> CwmnError:
    with pytest.raises(CwmnError) as info:
        ports.call(path, args)
    return info.value
