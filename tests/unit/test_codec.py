"""cwmn_web.protocol: every message round-trips; malformed frames are ``protocol`` errors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cwmn_web.errors import CwmnError, ProtocolError
from cwmn_web.protocol import MESSAGE_TYPES, PROTOCOL_VERSION, decode, encode
from cwmn_web.protocol.codec import MAX_FRAME, decode_obj, encode_obj
from cwmn_web.protocol.messages import (
    MAX_NAME_CHARS,
    AbandonReplay,
    AcceptHostInvite,
    Ack,
    ControlChanged,
    ControlDeclined,
    ControlInput,
    ControlRefused,
    ControlRequested,
    CreateJoinCode,
    CreateLink,
    CreatePublicLink,
    DeclineControl,
    Draw,
    EndSession,
    ErrorReply,
    GetHostInvite,
    GuestClick,
    GuestDraw,
    GuestJoined,
    GuestLeft,
    GuestPointer,
    GuestUpdated,
    Hello,
    HostInviteInfo,
    HostInviteSent,
    HostStatus,
    InviteGuest,
    InviteSent,
    InviteToHost,
    Join,
    JoinCodeCreated,
    Joined,
    LinkCreated,
    Message,
    MirrorFrame,
    MuteAll,
    Muted,
    MuteGuest,
    Ok,
    Paused,
    Ping,
    PointerClick,
    PointerMove,
    Pong,
    ReleaseControl,
    Removed,
    RemoveGuest,
    ReplayUpdate,
    RequestControl,
    ResumeSession,
    SendVideo,
    SessionEnded,
    SessionResumed,
    SessionStarted,
    SetControl,
    SetControlAllowed,
    SetName,
    SetPrivacy,
    SetPublicLink,
    SnapshotRequest,
    StartSession,
    VideoSent,
    WatchReplay,
    Welcome,
)

SAMPLES: list[Message] = [
    Hello(ref=1, version=PROTOCOL_VERSION, role="host", page_url="https://shop.example.com/ü"),
    Welcome(ref=1, version=PROTOCOL_VERSION, server_time=1700000000.25),
    StartSession(ref=2, host_name="Ann", host_email="ann@example.com", is_replay=True),
    SessionStarted(
        ref=2,
        session_id="s1",
        resume_token="tok",
        started_at=1700000000.5,
        is_replay=False,
        host_name="Ann",
        host_email="ann@example.com",
        settings={"maxGuests": 10, "maskSelectors": [".x"], "nested": {"a": None}},
    ),
    EndSession(ref=3),
    SessionEnded(ref=0, session_id="s1", reason="expired"),
    ErrorReply(ref=4, code="invalid_state", message="not now"),
    Ping(ref=5),
    Pong(ref=5),
    Ok(ref=6),
    ResumeSession(ref=7, resume_token="tok", page_id="p2"),
    SessionResumed(ref=7, session_id="s1", started_at=1.5, acked_seq=12, privacy=True),
    MirrorFrame(seq=13, kind="mutations", data={"texts": [[4, "hé"]], "removes": [5]}),
    Ack(seq=13),
    SnapshotRequest(),
    CreateLink(ref=8),
    LinkCreated(ref=8, url="http://127.0.0.1:8000/join/abc", expires_at=2.0),
    SetPrivacy(ref=9, enabled=True),
    GuestJoined(guest={"guestId": "g1", "name": "Ann", "pointer": None}),
    GuestLeft(guest={"guestId": "g1"}),
    Join(ref=1, token="abc", name="Bob", last_seq=4),
    Joined(ref=1, guest_id="g1", session_id="s1", host_name="Ann", paused=False, waiting=True),
    Paused(paused=True),
    HostStatus(connected=False),
    GuestUpdated(guest={"guestId": "g1", "muted": True}),
    MuteGuest(ref=5, guest_id="g1", muted=True),
    MuteAll(ref=6, muted=False),
    RemoveGuest(ref=7, guest_id="g1"),
    SetPublicLink(ref=8, enabled=False),
    CreatePublicLink(ref=9),
    PointerMove(x=10.5, y=20, visible=True),
    PointerClick(x=1, y=2),
    GuestPointer(guest_id="g1", name="Ann", color="#e5484d", x=3, y=4.25, visible=False),
    GuestClick(guest_id="g1", name="Ann", color="#e5484d", x=3, y=4),
    Muted(muted=True),
    Removed(),
    SetName(ref=17, name="Zoë"),
    HostStatus(connected=False, navigating=True),
    InviteGuest(ref=10, guest_name="Zoë", guest_email="z@example.com", message="Hi\nthere"),
    InviteSent(ref=10, invite_id="i1", channel="sms", to="+13145550000", status="sent"),
    InviteToHost(
        ref=11,
        host_name="Ann",
        host_email="ann@example.com",
        invite_name="Zoë",
        invite_email="z@example.com",
        message="Show me\nplease",
        url="https://shop.example.com/cart",
    ),
    HostInviteSent(
        ref=11, invite_id="i2", join_url="http://s/join/abc?name=Ann", expires_at=9.5, status="sent"
    ),
    GetHostInvite(ref=12, token="tok"),
    HostInviteInfo(
        ref=12,
        invite_id="i2",
        inviter_name="Ann",
        host_name="Zoë",
        host_email="z@example.com",
        message="",
        expires_at=9.5,
    ),
    AcceptHostInvite(ref=13, token="tok", page_id="p1"),
    WatchReplay(ref=14, resume_token="tok"),
    ReplayUpdate(
        replay_id="s1",
        status="rendering",
        percent=42.5,
        stage="replaying",
        eta_seconds=3.5,
        duration=10.0,
    ),
    SendVideo(ref=15, resume_token="tok", to_emails=["a@example.com", "b@example.com"]),
    VideoSent(ref=15, status="queued", to=["a@example.com"]),
    AbandonReplay(ref=16, resume_token="tok"),
    RequestControl(ref=17),
    ReleaseControl(ref=18),
    ControlRequested(guest_id="g1"),
    ControlRequested(guest_id="g1", withdrawn=True),
    SetControl(ref=19, guest_id="g1"),
    DeclineControl(ref=20, guest_id="g1"),
    SetControlAllowed(ref=21, allowed=False),
    ControlChanged(guest_id="g1", name="Bo", allowed=True),
    ControlDeclined(),
    ControlInput(ref=22, kind="text", x=10.5, y=20, text="héllo", guest_id="g1"),
    ControlRefused(guest_id="g1", code="control_refused", message="a masked field"),
    Draw(ref=23, stroke="s1", tool="laser", points=[1.5, 2, 3, 4.25], done=True),
    GuestDraw(guest_id="g1", name="Bo", color="#0a0", stroke="s1", points=[1, 2]),
    CreateJoinCode(ref=24),
    JoinCodeCreated(ref=24, code="12345678", url="https://cwmn.example/join", expires_at=9.5),
]


def test_samples_cover_every_message_type() -> None:
    assert {m.type for m in SAMPLES} == set(MESSAGE_TYPES)
    assert set(MESSAGE_TYPES) == {
        "hello",
        "welcome",
        "start_session",
        "session_started",
        "end_session",
        "session_ended",
        "error",
        "ping",
        "pong",
        "ok",
        "resume_session",
        "session_resumed",
        "mirror",
        "ack",
        "snapshot_request",
        "create_link",
        "link_created",
        "set_privacy",
        "guest_joined",
        "guest_left",
        "join",
        "joined",
        "paused",
        "host_status",
        "guest_updated",
        "set_name",
        "mute_guest",
        "mute_all",
        "remove_guest",
        "set_public_link",
        "create_public_link",
        "pointer_move",
        "pointer_click",
        "guest_pointer",
        "guest_click",
        "muted",
        "removed",
        "invite_guest",
        "invite_sent",
        "invite_to_host",
        "host_invite_sent",
        "get_host_invite",
        "host_invite_info",
        "accept_host_invite",
        "watch_replay",
        "replay_update",
        "send_video",
        "video_sent",
        "abandon_replay",
        "request_control",
        "release_control",
        "control_requested",
        "set_control",
        "decline_control",
        "set_control_allowed",
        "control_changed",
        "control_declined",
        "control_input",
        "control_refused",
        "draw",
        "guest_draw",
        "create_join_code",
        "join_code",
    }
    for tag, cls in MESSAGE_TYPES.items():
        assert cls.type == tag


@pytest.mark.parametrize("message", SAMPLES, ids=[m.type for m in SAMPLES])
def test_round_trip(message: Message) -> None:
    frame = encode(message)
    assert isinstance(frame, str)
    assert decode(frame) == message
    assert decode(frame.encode()) == message
    assert decode_obj(encode_obj(message)) == message


def test_wire_form() -> None:
    frame = encode(StartSession(ref=7, host_name="Zoë", host_email="z@e.com"))
    assert frame == (
        '{"type":"start_session","ref":7,"host_name":"Zoë","host_email":"z@e.com",'
        '"is_replay":false,"page_id":"","idle_timeout":0.0}'
    )
    assert encode_obj(Ping()) == {"type": "ping", "ref": 0}


def test_missing_fields_take_defaults() -> None:
    assert decode('{"type":"hello"}') == Hello(ref=0, version=PROTOCOL_VERSION, role="host")
    assert decode('{"type":"session_ended","ref":3}') == SessionEnded(ref=3, reason="ended")


def test_unknown_extra_fields_are_ignored() -> None:
    frame = '{"type":"ping","ref":9,"future":{"x":1},"type2":"hello"}'
    assert decode(frame) == Ping(ref=9)


def test_int_is_accepted_where_float_is_expected() -> None:
    message = decode('{"type":"welcome","server_time":5}')
    assert isinstance(message, Welcome)
    assert message.server_time == 5


def assert_protocol(frame: str | bytes) -> str:
    with pytest.raises(ProtocolError) as info:
        decode(frame)
    assert isinstance(info.value, CwmnError)
    assert info.value.code == "protocol"
    return info.value.message


@pytest.mark.parametrize(
    "obj", [[], [{"type": "ping"}], 1, 1.5, "ping", None, True], ids=lambda o: repr(o)
)
def test_non_object_is_protocol_error(obj: Any) -> None:
    assert "JSON object" in assert_protocol(json.dumps(obj))


@pytest.mark.parametrize(
    "frame",
    [
        '{"type":"nope"}',
        '{"type":"Hello"}',
        '{"type":""}',
        '{"ref":1}',
        '{"type":null}',
        '{"type":["hello"]}',
        '{"type":1}',
    ],
)
def test_unknown_or_missing_type_is_protocol_error(frame: str) -> None:
    assert "unknown message type" in assert_protocol(frame)


@pytest.mark.parametrize(
    "frame",
    ["", "{", "not json", "{'type':'ping'}", '{"type":"ping"} x', b"\xff\xfe\x00"],
    ids=repr,
)
def test_bad_json_is_protocol_error(frame: str | bytes) -> None:
    assert "not JSON" in assert_protocol(frame)


@pytest.mark.parametrize(
    ("obj", "field"),
    [
        ({"type": "ping", "ref": "1"}, "ping.ref"),
        ({"type": "ping", "ref": 1.5}, "ping.ref"),
        ({"type": "ping", "ref": True}, "ping.ref"),
        ({"type": "ping", "ref": None}, "ping.ref"),
        ({"type": "hello", "version": True}, "hello.version"),
        ({"type": "hello", "version": "1"}, "hello.version"),
        ({"type": "hello", "page_url": 5}, "hello.page_url"),
        ({"type": "welcome", "server_time": False}, "welcome.server_time"),
        ({"type": "welcome", "server_time": "now"}, "welcome.server_time"),
        ({"type": "start_session", "is_replay": 1}, "start_session.is_replay"),
        ({"type": "start_session", "is_replay": "true"}, "start_session.is_replay"),
        ({"type": "start_session", "host_name": ["Ann"]}, "start_session.host_name"),
        ({"type": "session_started", "settings": []}, "session_started.settings"),
        ({"type": "session_started", "settings": "{}"}, "session_started.settings"),
        ({"type": "error", "code": 3}, "error.code"),
    ],
)
def test_wrong_field_types_are_protocol_errors(obj: dict[str, Any], field: str) -> None:
    message = assert_protocol(json.dumps(obj))
    assert message.startswith(field + " must be")


def test_bool_where_int_expected_names_int() -> None:
    message = assert_protocol('{"type":"hello","version":true}')
    assert message == "hello.version must be int, got bool"


def test_oversize_frame_is_protocol_error() -> None:
    padding = "x" * MAX_FRAME
    message = assert_protocol('{"type":"ping","pad":"' + padding + '"}')
    assert str(MAX_FRAME) in message


def test_frame_at_the_limit_is_decoded() -> None:
    head = '{"type":"ping","pad":"'
    frame = head + "x" * (MAX_FRAME - len(head) - 2) + '"}'
    assert len(frame) == MAX_FRAME
    assert decode(frame) == Ping()


def test_messages_are_frozen() -> None:
    message = Ping(ref=1)
    with pytest.raises(AttributeError):
        message.ref = 2  # type: ignore[misc]


def test_deeply_nested_json_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        decode("[" * 100_000)


def test_frame_size_counts_bytes_not_characters() -> None:
    frame = '{"type":"ping","x":"' + "é" * (MAX_FRAME // 2) + '"}'
    assert len(frame) < MAX_FRAME
    with pytest.raises(ProtocolError, match="bytes exceeds"):
        decode(frame)


@pytest.mark.parametrize(
    "frame",
    [
        '{"type":"pointer_move","x":NaN,"y":1}',
        '{"type":"pointer_move","x":Infinity,"y":1}',
        '{"type":"pointer_click","x":-Infinity,"y":1}',
        '{"type":"pointer_move","x":1e999,"y":1}',
        '{"type":"mirror","seq":1,"kind":"pointer","data":{"x":1e400}}',
    ],
)
def test_non_finite_numbers_are_refused(frame: str) -> None:
    """A NaN relayed to a host page would make every later message unparseable there."""
    with pytest.raises(ProtocolError):
        decode(frame)


def test_encoding_never_writes_non_finite_numbers() -> None:
    with pytest.raises(ValueError):
        encode(PointerMove(x=float("nan"), y=0))


def test_lists_of_strings_only() -> None:
    frame = '{"type":"send_video","ref":1,"to_emails":["a@example.com",7]}'
    with pytest.raises(ProtocolError, match="list of strings"):
        decode(frame)
    with pytest.raises(ProtocolError, match="must be list"):
        decode('{"type":"send_video","ref":1,"to_emails":"a@example.com"}')


def test_a_name_past_its_limit_is_refused() -> None:
    assert decode(encode(SetName(name="x" * MAX_NAME_CHARS))) == SetName(name="x" * MAX_NAME_CHARS)
    with pytest.raises(ProtocolError, match="longer than 200"):
        decode(json.dumps({"type": "set_name", "name": "x" * (MAX_NAME_CHARS + 1)}))
    with pytest.raises(ProtocolError):
        decode('{"type":"set_name","name":7}')


def test_host_status_without_navigating_is_a_plain_drop() -> None:
    """An older server's push (no ``navigating``) reads as today's drop."""
    assert decode('{"type":"host_status","connected":false}') == HostStatus(connected=False)


def test_the_guest_object_passes_through_as_the_server_sent_it() -> None:
    """Keys left out stay out and unknown keys stay in: the page sees the server's object."""
    frame = '{"type":"guest_updated","guest":{"guestId":"g1","muted":true,"badge":"vip"}}'
    message = decode(frame)
    assert isinstance(message, GuestUpdated)
    assert message.guest == {"guestId": "g1", "muted": True, "badge": "vip"}
    assert json.loads(encode(message))["guest"] == message.guest
    with pytest.raises(ProtocolError, match="guest must be dict"):
        decode('{"type":"guest_joined","guest":["g1"]}')
