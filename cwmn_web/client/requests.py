"""Requests to the server over one socket, without I/O: fresh refs, answers, pushes, timeouts.

:class:`RequestChannel` numbers each request, keeps it pending with a deadline (a
:class:`~cwmn_web.timing.Timers` entry) and completes it with the server's answer, its error
or a timeout; messages with ``ref == 0`` are pushes. Messages to send come out of
:meth:`RequestChannel.to_send`; the caller writes them to the socket, feeds back what it
reads (:meth:`RequestChannel.receive`), the time (:meth:`RequestChannel.tick`) and the loss
of the socket (:meth:`RequestChannel.lost`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from ..errors import CwmnError, NetworkError, ProtocolError, Timeout
from ..protocol.messages import ErrorReply, Hello, Message, Welcome
from ..timing import Timers

__all__ = ["REQUEST_TIMEOUT", "Done", "Outcome", "RequestChannel"]

REQUEST_TIMEOUT = 15.0

#: A request's outcome: the server's answer, or the error it failed with.
Outcome = Message | CwmnError
Done = Callable[[Outcome], None]


class RequestChannel:
    """The requests over one socket, from the greeting until the socket is lost or closed."""

    def __init__(self) -> None:
        self.server_time = 0.0
        """The server's clock (seconds) when it welcomed this socket."""
        self.closed = False
        self._next_ref = 1
        self._pending: dict[int, tuple[str, float, Done]] = {}
        self._timers: Timers[int] = Timers()
        self._out: list[Message] = []

    # -- outputs ----------------------------------------------------------------------------
    def to_send(self) -> list[Message]:
        """Messages to write, in order (drains the queue)."""
        out, self._out = self._out, []
        return out

    def next_due(self) -> float | None:
        """When the oldest pending request times out (None: nothing is pending)."""
        return self._timers.next_due()

    @property
    def pending(self) -> int:
        return len(self._pending)

    # -- inputs -----------------------------------------------------------------------------
    def greet(self, page_url: str, now: float, done: Done, host_token: str = "") -> int:
        """Say hello (with the host's token, if any); ``done`` gets the ``Welcome`` (its
        server time is kept) or an error."""

        def welcomed(outcome: Outcome) -> None:
            if isinstance(outcome, Message) and not isinstance(outcome, Welcome):
                outcome = ProtocolError(f"expected welcome, got {outcome.type}")
            if isinstance(outcome, Welcome):
                self.server_time = outcome.server_time
            done(outcome)

        return self.request(Hello(page_url=page_url, host_token=host_token), now, welcomed)

    def request(
        self, message: Message, now: float, done: Done, timeout: float = REQUEST_TIMEOUT
    ) -> int:
        """Send ``message`` with a fresh ref; ``done`` gets its outcome exactly once (at
        once with a ``NetworkError`` if the channel is closed). Answers the ref."""
        ref = self._next_ref
        self._next_ref += 1
        if self.closed:
            done(NetworkError("the connection was closed"))
            return ref
        self._pending[ref] = (message.type, timeout, done)
        self._timers.set(ref, now + timeout)
        self._out.append(replace(message, ref=ref))
        return ref

    def send(self, message: Message) -> None:
        """Send ``message`` without waiting for an answer (dropped once closed)."""
        if not self.closed:
            self._out.append(message)

    def receive(self, message: Message) -> Message | None:
        """A message from the server: completes its request; answers it if it is a push
        (``ref == 0``), else None (an answer, or one to a request no longer pending)."""
        if not message.ref:
            return message
        pending = self._pending.pop(message.ref, None)
        if pending is not None:
            self._timers.cancel(message.ref)
            if isinstance(message, ErrorReply):
                pending[2](CwmnError.from_dict({"code": message.code, "message": message.message}))
            else:
                pending[2](message)
        return None

    def tick(self, now: float) -> None:
        """Fail the requests whose time is up."""
        for ref in self._timers.due(now):
            pending = self._pending.pop(ref, None)
            if pending is not None:
                kind, timeout, done = pending
                done(Timeout(f"the server did not answer {kind} in {timeout:g} s"))

    def lost(self, error: CwmnError | None = None) -> None:
        """The socket is gone (or closed by us): every pending request fails with ``error``."""
        self.closed = True
        self._out.clear()
        error = error or NetworkError("the connection was closed")
        pending, self._pending = self._pending, {}
        for ref in pending:
            self._timers.cancel(ref)
        for _, _, done in pending.values():
            done(error)
