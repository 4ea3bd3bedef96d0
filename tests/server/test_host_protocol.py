"""cwmn_web.server.host_protocol: which message may come in which phase (no I/O)."""

from __future__ import annotations

import pytest

from cwmn_web.errors import CwmnError, InvalidState, ProtocolError
from cwmn_web.protocol.messages import (
    PROTOCOL_VERSION,
    Ack,
    CreateLink,
    EndSession,
    ErrorReply,
    Hello,
    Join,
    Message,
    MirrorFrame,
    Ping,
    Pong,
    ResumeSession,
    SessionEnded,
    SessionStarted,
    SetPrivacy,
    StartSession,
    Welcome,
)
from cwmn_web.server.host_protocol import HostPhase, HostProtocol

P = HostPhase
ALLOWED: dict[HostPhase, set[type[Message]]] = {
    P.AWAITING_HELLO: {Hello},
    P.READY: {StartSession, ResumeSession, Ping},
    P.IN_SESSION: {MirrorFrame, CreateLink, SetPrivacy, EndSession, Ping},
    P.ENDED: {Ping},
}
#: Dropped without an answer.
IGNORED: dict[HostPhase, set[type[Message]]] = {P.ENDED: {MirrorFrame}}
MESSAGES: list[Message] = [
    Hello(),
    Welcome(),
    StartSession(),
    SessionStarted(),
    EndSession(),
    SessionEnded(),
    ErrorReply(),
    Ping(),
    Pong(),
    ResumeSession(),
    MirrorFrame(),
    Ack(),
    CreateLink(),
    SetPrivacy(),
    Join(),
]
PAIRS = [(phase, message) for phase in HostPhase for message in MESSAGES]


def in_phase(phase: HostPhase) -> HostProtocol:
    protocol = HostProtocol()
    protocol.phase = phase
    return protocol


@pytest.mark.parametrize(("phase", "message"), PAIRS, ids=[f"{p.value}|{m.type}" for p, m in PAIRS])
def test_every_phase_message_pair(phase: HostPhase, message: Message) -> None:
    protocol = in_phase(phase)
    if type(message) in IGNORED.get(phase, ()):
        assert protocol.check(message) is False
    elif type(message) in ALLOWED[phase]:
        assert protocol.check(message) is True
    else:
        expected = ProtocolError if phase is P.AWAITING_HELLO else InvalidState
        with pytest.raises(expected) as info:
            protocol.check(message)
        assert message.type in info.value.message
    assert protocol.phase is phase


def test_wrong_version_is_protocol_in_any_phase() -> None:
    for phase in HostPhase:
        with pytest.raises(CwmnError) as info:
            in_phase(phase).check(Hello(version=PROTOCOL_VERSION + 1))
        assert info.value.code == "protocol"
        assert "reload" in info.value.message


def test_only_hosts_say_hello_here() -> None:
    with pytest.raises(ProtocolError) as info:
        HostProtocol().check(Hello(role="guest"))
    assert "guest" in info.value.message


def test_phases_move_forward() -> None:
    protocol = HostProtocol()
    assert protocol.phase is P.AWAITING_HELLO
    assert protocol.session_id == ""
    protocol.greeted()
    assert protocol.phase is P.READY  # type: ignore[comparison-overlap]
    protocol.started("s1")
    assert (protocol.phase, protocol.session_id) == (P.IN_SESSION, "s1")
    protocol.ended()
    assert protocol.phase is P.ENDED
