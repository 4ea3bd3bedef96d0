"""What counts as activity for a session's idle timeout (extension, docs/control/server.md).

A session ends as ``idle`` when neither its visitor nor a guest did anything for its idle
timeout. A guest's every message the room accepted is activity, but ``ping`` and
``request_control`` (a guest asking again and again is not anyone using the page); the
caller counts nothing the room refused, nor anything from a muted guest. The host's
messages are, but ``ping``, ``hello``, a ``resume_session`` (a reconnect is not the visitor
acting) and the mirror frames that only say the page changed by itself: a page whose clock
ticks, or that animates, sends ``mutations`` for ever. A frame is the visitor's input when
it is a new page's first snapshot (seq 1), a scroll, the viewport, the pointer, the focus,
or a ``mutations`` frame that carries a form field's state (value, masked length, checked).
No I/O here.
"""

from __future__ import annotations

from ...protocol.constants import Pseudo
from ...protocol.messages import (
    Hello,
    Message,
    MirrorFrame,
    Ping,
    RequestControl,
    ResumeSession,
)

__all__ = [
    "ACTIVITY_RESOLUTION",
    "MIN_IDLE_TIMEOUT",
    "guest_acted",
    "host_acted",
    "session_idle_timeout",
]

#: The shortest idle timeout a session may ask for (``idleTimeout``), in seconds.
MIN_IDLE_TIMEOUT = 30.0
#: Seconds within which a message is not looked at for activity after the last counted one
#: (a large ``mutations`` frame is scanned at most once a second; the timeout is minutes).
ACTIVITY_RESOLUTION = 1.0
#: Frame kinds that only the visitor's own actions send.
_VISITOR_KINDS = frozenset({"scroll", "viewport", "pointer", "focus"})
#: Pseudo-attributes of a form field's state (what the visitor typed, ticked or chose).
_FORM_STATE = frozenset({Pseudo.VALUE, Pseudo.MASKED, Pseudo.CHECKED})
_NOT_ACTIVITY = (Ping, Hello, ResumeSession)


def session_idle_timeout(server: float, asked: float) -> float:
    """A session's idle timeout: the server's (``CWMN_IDLE_TIMEOUT``, 0: never) unless the
    session ``asked`` for a shorter one (> 0, at least :data:`MIN_IDLE_TIMEOUT`)."""
    if asked <= 0:
        return max(server, 0.0)
    asked = max(asked, MIN_IDLE_TIMEOUT)
    return asked if server <= 0 else min(server, asked)


def visitor_frame(frame: MirrorFrame) -> bool:
    """Whether a mirror frame shows the visitor acting (not the page changing by itself)."""
    if frame.kind in _VISITOR_KINDS:
        return True
    if frame.kind == "snapshot":
        return frame.seq == 1  # a new page; later snapshots answer the server's requests
    if frame.kind != "mutations":
        return False
    attrs = frame.data.get("attrs")
    if not isinstance(attrs, list):
        return False
    return any(
        isinstance(a, list) and len(a) > 1 and isinstance(a[1], str) and a[1] in _FORM_STATE
        for a in attrs
    )


def host_acted(message: Message) -> bool:
    """Whether a message from the host's page is the visitor's activity."""
    if isinstance(message, MirrorFrame):
        return visitor_frame(message)
    return not isinstance(message, _NOT_ACTIVITY)


def guest_acted(message: Message) -> bool:
    """Whether a message from a guest (one the room accepted) is activity: all but
    ``ping`` and ``request_control``."""
    return not isinstance(message, Ping | RequestControl)
