"""cwmn_web.server.guest_protocol: which message a guest may send in which phase."""

from __future__ import annotations

import pytest

from cwmn_web.errors import InvalidState, ProtocolError
from cwmn_web.protocol.messages import (
    PROTOCOL_VERSION,
    CreateLink,
    EndSession,
    Hello,
    Join,
    Message,
    MirrorFrame,
    Ping,
    SetPrivacy,
    StartSession,
)
from cwmn_web.server.guest_protocol import GuestPhase, GuestProtocol

P = GuestPhase
GUEST_HELLO = Hello(role="guest")
ALLOWED: dict[GuestPhase, set[type[Message]]] = {
    P.AWAITING_HELLO: {Hello},
    P.READY: {Join, Ping},
    P.JOINED: {Ping},
}
MESSAGES: list[Message] = [
    GUEST_HELLO,
    Join(),
    Ping(),
    MirrorFrame(),
    StartSession(),
    EndSession(),
    CreateLink(),
    SetPrivacy(),
]
PAIRS = [(phase, message) for phase in GuestPhase for message in MESSAGES]


def in_phase(phase: GuestPhase) -> GuestProtocol:
    protocol = GuestProtocol()
    protocol.phase = phase
    return protocol


@pytest.mark.parametrize(("phase", "message"), PAIRS, ids=[f"{p.value}|{m.type}" for p, m in PAIRS])
def test_every_phase_message_pair(phase: GuestPhase, message: Message) -> None:
    protocol = in_phase(phase)
    if type(message) in ALLOWED[phase]:
        protocol.check(message)
    else:
        expected = ProtocolError if phase is P.AWAITING_HELLO else InvalidState
        with pytest.raises(expected) as info:
            protocol.check(message)
        assert message.type in info.value.message
    assert protocol.phase is phase


@pytest.mark.parametrize(
    "hello", [Hello(role="host"), Hello(role="guest", version=PROTOCOL_VERSION + 1)]
)
def test_a_hello_of_another_role_or_version_is_protocol(hello: Hello) -> None:
    for phase in GuestPhase:
        with pytest.raises(ProtocolError):
            in_phase(phase).check(hello)


def test_phases_move_forward() -> None:
    protocol = GuestProtocol()
    assert protocol.phase is P.AWAITING_HELLO
    protocol.greeted()
    assert protocol.phase is P.READY  # type: ignore[comparison-overlap]
    protocol.joined()
    assert protocol.phase is P.JOINED
