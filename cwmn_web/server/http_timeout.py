"""A request's headers and body must arrive in time: uvicorn's h11 protocol with a deadline.

uvicorn closes an idle keep-alive connection, but not one whose request is still arriving:
a client sending a header line every few seconds (slowloris) held a connection, and its
memory, for as long as it liked. :func:`timed_h11` closes a connection whose request has
not fully arrived ``timeout`` seconds after the connection opened or its last response
was sent (``CWMN_HTTP_TIMEOUT``). A body still arriving steadily (at least
:data:`MIN_BODY_PROGRESS` bytes since the last deadline: a page asset's upload on a slow
uplink) gets another ``timeout`` seconds; a trickle does not. A WebSocket, once upgraded,
is no longer HTTP: its own limits apply (``server/live/limits.py``).
"""

from __future__ import annotations

import asyncio
import copyreg
from collections.abc import Callable
from typing import cast

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["MIN_BODY_PROGRESS", "timed_h11"]

#: The bytes a request body must bring per ``timeout`` for its deadline to move on (64 KiB
#: per 20 s by default: 3.2 KB/s; a page asset's 8 MiB then takes at most 43 minutes).
MIN_BODY_PROGRESS = 64 * 1024

#: A request still arriving (its headers, or its body).
_ARRIVING = (h11.IDLE, h11.SEND_BODY)


class _TimedH11(H11Protocol):
    """:class:`H11Protocol` closing a connection whose request is late."""

    request_timeout = 20.0
    _deadline: asyncio.TimerHandle | None = None
    _progress = 0
    """Bytes received since the deadline was last set."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        self._progress += len(data)
        super().data_received(data)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm()  # the next request on this connection has as long again

    def connection_lost(self, exc: Exception | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._progress = 0
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = self.loop.call_later(self.request_timeout, self._late)

    def _late(self) -> None:
        """The deadline passed: close the connection if a request is still arriving (not
        once the app has it, nor after a WebSocket upgrade took the transport)."""
        self._deadline = None
        transport = self.transport
        if transport.is_closing() or transport.get_protocol() is not self:
            return
        if self.conn.their_state is h11.SEND_BODY and self._progress >= MIN_BODY_PROGRESS:
            self._arm()  # a body still arriving steadily
        elif self.conn.their_state in _ARRIVING:
            transport.close()


class _Timed(type):
    """The metaclass of :func:`timed_h11`'s classes, which pickle as the call that makes
    them: uvicorn pickles its configuration for the worker processes it spawns (``serve
    --workers``), and a class made at run time has no name to be found by."""

    request_timeout: float


def _made(timeout: float) -> _Timed:
    return _Timed("TimedH11Protocol", (_TimedH11,), {"request_timeout": timeout})


def _remake(cls: _Timed) -> tuple[Callable[[float], _Timed], tuple[float]]:
    return _made, (cls.request_timeout,)


copyreg.pickle(_Timed, _remake)


def timed_h11(timeout: float) -> type[H11Protocol]:
    """The h11 protocol class for uvicorn (``http=``) with a ``timeout``-second deadline."""
    return cast(type[H11Protocol], _made(timeout))
