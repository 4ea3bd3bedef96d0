"""Every wire message as a frozen dataclass with a ``type`` tag. Versioned; no I/O here.

Requests from a client carry ``ref`` (a number the client picks); the server's answer to a
request carries the same ``ref``. Messages the server pushes on its own have ``ref`` 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..errors import ErrorCode
from .guests import GuestObject
from .names import MAX_NAME_CHARS

__all__ = [
    "CLOSE_BAD_ORIGIN",
    "CLOSE_GOING_AWAY",
    "CLOSE_NORMAL",
    "CLOSE_PROTOCOL",
    "CLOSE_REMOVED",
    "CLOSE_REPLACED",
    "CLOSE_SESSION_ENDED",
    "CLOSE_TRY_AGAIN_LATER",
    "CLOSE_UNSUPPORTED_VERSION",
    "CONTROL_KINDS",
    "DRAW_TOOLS",
    "MAX_DRAW_NUMBERS",
    "MAX_NAME_CHARS",
    "MESSAGE_TYPES",
    "PROTOCOL_VERSION",
    "REPLAY_STATUSES",
    "AbandonReplay",
    "AcceptHostInvite",
    "Ack",
    "ControlChanged",
    "ControlDeclined",
    "ControlInput",
    "ControlRefused",
    "ControlRequested",
    "CreateJoinCode",
    "CreateLink",
    "CreatePublicLink",
    "DeclineControl",
    "Draw",
    "EndSession",
    "ErrorReply",
    "GetHostInvite",
    "GuestClick",
    "GuestDraw",
    "GuestJoined",
    "GuestLeft",
    "GuestPointer",
    "GuestUpdated",
    "Hello",
    "HostInviteInfo",
    "HostInviteSent",
    "HostStatus",
    "InviteGuest",
    "InviteSent",
    "InviteToHost",
    "Join",
    "JoinCodeCreated",
    "Joined",
    "LinkCreated",
    "Message",
    "MirrorFrame",
    "MuteAll",
    "MuteGuest",
    "Muted",
    "Ok",
    "Paused",
    "Ping",
    "PointerClick",
    "PointerMove",
    "Pong",
    "ReleaseControl",
    "RemoveGuest",
    "Removed",
    "ReplayUpdate",
    "RequestControl",
    "ResumeSession",
    "SendVideo",
    "SessionEnded",
    "SessionResumed",
    "SessionStarted",
    "SetControl",
    "SetControlAllowed",
    "SetName",
    "SetPrivacy",
    "SetPublicLink",
    "SnapshotRequest",
    "StartSession",
    "VideoSent",
    "WatchReplay",
    "Welcome",
]

PROTOCOL_VERSION = 1

# WebSocket close codes (4000-4999 are the application's).
CLOSE_NORMAL = 1000
CLOSE_PROTOCOL = 4400
CLOSE_BAD_ORIGIN = 4403
CLOSE_UNSUPPORTED_VERSION = 4426
CLOSE_SESSION_ENDED = 4410
#: A newer connection of the same host or guest took over: do not reconnect automatically.
CLOSE_REPLACED = 4409
#: The host removed this guest: its link no longer admits it.
CLOSE_REMOVED = 4401
#: The peer fell too far behind (its messages piled up): reconnect and resume.
CLOSE_TRY_AGAIN_LATER = 1013
#: What browsers send when a page's sockets close because it navigates away (or closes).
CLOSE_GOING_AWAY = 1001


@dataclass(frozen=True)
class Message:
    """Base of every message. ``type`` is the tag written on the wire."""

    type: ClassVar[str] = ""
    #: String fields the codec refuses past this many characters.
    max_chars: ClassVar[dict[str, int]] = {}
    ref: int = 0


@dataclass(frozen=True)
class Hello(Message):
    """Client → server, first message: protocol version and role."""

    type: ClassVar[str] = "hello"
    max_chars: ClassVar[dict[str, int]] = {"host_token": 4096}
    version: int = PROTOCOL_VERSION
    role: str = "host"
    page_url: str = ""
    host_token: str = ""
    """A host's token signed by its site's backend (docs/HOST_TOKENS.md), on sites that
    require one."""


@dataclass(frozen=True)
class Welcome(Message):
    """Server → client answer to :class:`Hello`."""

    type: ClassVar[str] = "welcome"
    version: int = PROTOCOL_VERSION
    server_time: float = 0.0


@dataclass(frozen=True)
class StartSession(Message):
    type: ClassVar[str] = "start_session"
    host_name: str = ""
    host_email: str = ""
    is_replay: bool = False
    page_id: str = ""
    idle_timeout: float = 0.0
    """Extension: end the session after this many seconds without activity (0: the
    server's ``CWMN_IDLE_TIMEOUT``; never longer than it)."""


@dataclass(frozen=True)
class SessionStarted(Message):
    type: ClassVar[str] = "session_started"
    session_id: str = ""
    resume_token: str = ""
    started_at: float = 0.0
    is_replay: bool = False
    host_name: str = ""
    host_email: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    #: Where the host uploads the page's private assets and guests read them (docs/FIDELITY.md,
    #: "The asset store"); empty when the site's assets load directly.
    assets: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EndSession(Message):
    type: ClassVar[str] = "end_session"


@dataclass(frozen=True)
class SessionEnded(Message):
    """The session is over: ``reason`` is ``ended`` (by the host), ``expired`` or ``idle``
    (nobody did anything for the idle timeout; docs/CONTROL.md)."""

    type: ClassVar[str] = "session_ended"
    session_id: str = ""
    reason: str = "ended"


@dataclass(frozen=True)
class ErrorReply(Message):
    """A request failed; ``code`` is an :class:`~cwmn_web.errors.ErrorCode` (a ``str`` on the
    wire: a peer may send one this version does not know)."""

    type: ClassVar[str] = "error"
    code: str = ErrorCode.SERVER_ERROR
    message: str = ""


@dataclass(frozen=True)
class Ping(Message):
    type: ClassVar[str] = "ping"


@dataclass(frozen=True)
class Pong(Message):
    type: ClassVar[str] = "pong"


@dataclass(frozen=True)
class Ok(Message):
    """Generic success answer to a request that returns nothing."""

    type: ClassVar[str] = "ok"


@dataclass(frozen=True)
class ResumeSession(Message):
    """Host → server after :class:`Hello`, instead of :class:`StartSession`: take the session
    back after a reconnect (same ``page_id``) or on a new page of the site (new ``page_id``)."""

    type: ClassVar[str] = "resume_session"
    resume_token: str = ""
    page_id: str = ""


@dataclass(frozen=True)
class SessionResumed(Message):
    """Answer to :class:`ResumeSession`. ``acked_seq`` is the last mirror frame of this page
    the server holds (0 on a new page: the host starts with a snapshot)."""

    type: ClassVar[str] = "session_resumed"
    session_id: str = ""
    started_at: float = 0.0
    is_replay: bool = False
    host_name: str = ""
    host_email: str = ""
    acked_seq: int = 0
    settings: dict[str, Any] = field(default_factory=dict)
    privacy: bool = False
    mute_all: bool = False
    public_link: bool = True
    controller: str = ""
    """Extension: the guest that controls the page (granted on an earlier page), or ""."""
    control_allowed: bool = True
    #: As :attr:`SessionStarted.assets` (the same session's: the same URLs).
    assets: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MirrorFrame(Message):
    """One piece of the mirror stream (docs/MIRROR.md): host → server → guests."""

    type: ClassVar[str] = "mirror"
    seq: int = 0
    kind: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    t: float = 0.0
    """When the host captured it: milliseconds since the epoch, the host's clock (replays
    are timed by it; ``audio`` chunks carry their own ``t0``)."""


@dataclass(frozen=True)
class Ack(Message):
    """Server → host push: every mirror frame up to ``seq`` is stored."""

    type: ClassVar[str] = "ack"
    seq: int = 0


@dataclass(frozen=True)
class SnapshotRequest(Message):
    """Server → host push: send a fresh snapshot (the server's log cannot serve a guest)."""

    type: ClassVar[str] = "snapshot_request"


@dataclass(frozen=True)
class CreateLink(Message):
    """Host → server: a one-time private link for one guest."""

    type: ClassVar[str] = "create_link"


@dataclass(frozen=True)
class LinkCreated(Message):
    type: ClassVar[str] = "link_created"
    url: str = ""
    expires_at: float = 0.0


@dataclass(frozen=True)
class SetPrivacy(Message):
    """Host → server: host privacy on (guests see "host paused sharing") or off."""

    type: ClassVar[str] = "set_privacy"
    enabled: bool = False


@dataclass(frozen=True)
class GuestJoined(Message):
    """Server → host push: a guest connected (``guest`` is the API's guest object)."""

    type: ClassVar[str] = "guest_joined"
    guest: GuestObject = field(default_factory=GuestObject)


@dataclass(frozen=True)
class GuestLeft(Message):
    type: ClassVar[str] = "guest_left"
    guest: GuestObject = field(default_factory=GuestObject)


@dataclass(frozen=True)
class Join(Message):
    """Guest → server after :class:`Hello` (role ``guest``): join through a link token.

    ``last_seq`` is the last frame the guest applied (0 on first join): on a reconnect the
    server sends only what came after it, or a fresh snapshot."""

    type: ClassVar[str] = "join"
    token: str = ""
    name: str = ""
    last_seq: int = 0


@dataclass(frozen=True)
class Joined(Message):
    type: ClassVar[str] = "joined"
    guest_id: str = ""
    session_id: str = ""
    host_name: str = ""
    paused: bool = False
    host_connected: bool = True
    muted: bool = False
    color: str = ""
    waiting: bool = False
    """No host yet: the session waits for the person invited to host it (``host_name``)."""
    name: str = ""
    """The guest's name as the host sees it (the server's choice when the join named none)."""
    navigating: bool = False
    """The host is away because its page is changing (as ``HostStatus.navigating``)."""
    host_verified: bool = False
    """``host_name`` is what the site's backend signed in the host's token."""
    controller: str = ""
    """Extension: the guest that controls the host's page, or ""."""
    control_allowed: bool = True
    """Extension: the host's page takes control requests."""


@dataclass(frozen=True)
class Paused(Message):
    """Server → guest push: the host turned privacy on (``paused``) or off."""

    type: ClassVar[str] = "paused"
    paused: bool = False


@dataclass(frozen=True)
class HostStatus(Message):
    """Server → guest push: the host's connection dropped or came back. ``navigating``: it
    dropped as a page does when it navigates (or closes): the next page may resume soon."""

    type: ClassVar[str] = "host_status"
    connected: bool = True
    navigating: bool = False


@dataclass(frozen=True)
class SetName(Message):
    """Guest → server once joined: the name the guest chose (trimmed and cut like the join
    name; empty means ``Guest``). Answered with :class:`Ok`; the host hears
    :class:`GuestUpdated`."""

    type: ClassVar[str] = "set_name"
    max_chars: ClassVar[dict[str, int]] = {"name": MAX_NAME_CHARS}
    name: str = ""


@dataclass(frozen=True)
class GuestUpdated(Message):
    """Server → host push: a guest's object changed (its mute flag, its name)."""

    type: ClassVar[str] = "guest_updated"
    guest: GuestObject = field(default_factory=GuestObject)


@dataclass(frozen=True)
class MuteGuest(Message):
    """Host → server: set one guest's own mute flag (answered with :class:`Ok`)."""

    type: ClassVar[str] = "mute_guest"
    guest_id: str = ""
    muted: bool = True


@dataclass(frozen=True)
class MuteAll(Message):
    """Host → server: the room's mute-all flag, independent of each guest's own flag."""

    type: ClassVar[str] = "mute_all"
    muted: bool = True


@dataclass(frozen=True)
class RemoveGuest(Message):
    """Host → server: remove a guest; its link stops admitting it."""

    type: ClassVar[str] = "remove_guest"
    guest_id: str = ""


@dataclass(frozen=True)
class SetPublicLink(Message):
    """Host → server: admit new guests through the session's public link, or not."""

    type: ClassVar[str] = "set_public_link"
    enabled: bool = True


@dataclass(frozen=True)
class CreatePublicLink(Message):
    """Host → server: the session's reusable public link (answered with
    :class:`LinkCreated`; the same link each time while the server runs)."""

    type: ClassVar[str] = "create_public_link"


@dataclass(frozen=True)
class PointerMove(Message):
    """Guest → server: the guest's pointer in the host page's document coordinates
    (CSS pixels); ``visible`` False when it left the host's page."""

    type: ClassVar[str] = "pointer_move"
    x: float = 0.0
    y: float = 0.0
    visible: bool = True


@dataclass(frozen=True)
class PointerClick(Message):
    """Guest → server: the guest clicked at (``x``, ``y``), document coordinates."""

    type: ClassVar[str] = "pointer_click"
    x: float = 0.0
    y: float = 0.0


@dataclass(frozen=True)
class GuestPointer(Message):
    """Server → host and the other guests: where a (not muted) guest's pointer is."""

    type: ClassVar[str] = "guest_pointer"
    guest_id: str = ""
    name: str = ""
    color: str = ""
    x: float = 0.0
    y: float = 0.0
    visible: bool = True


@dataclass(frozen=True)
class GuestClick(Message):
    """Server → host and the other guests: a (not muted) guest clicked."""

    type: ClassVar[str] = "guest_click"
    guest_id: str = ""
    name: str = ""
    color: str = ""
    x: float = 0.0
    y: float = 0.0


@dataclass(frozen=True)
class Muted(Message):
    """Server → guest push: whether this guest is muted now (own flag or mute-all)."""

    type: ClassVar[str] = "muted"
    muted: bool = False


@dataclass(frozen=True)
class Removed(Message):
    """Server → guest push, then a close with :data:`CLOSE_REMOVED`."""

    type: ClassVar[str] = "removed"


@dataclass(frozen=True)
class InviteGuest(Message):
    """Host → server: email (``guest_email``, ``guest_name``) or text (``guest_phone``) a
    personal invite link to a guest; ``message`` is the host's note. Answered with
    :class:`InviteSent` once the mail server or SMS provider took it."""

    type: ClassVar[str] = "invite_guest"
    guest_name: str = ""
    guest_email: str = ""
    guest_phone: str = ""
    message: str = ""


@dataclass(frozen=True)
class InviteSent(Message):
    """Answer to :class:`InviteGuest`: ``channel`` ``email`` or ``sms``, ``to`` the address
    or E.164 number, ``status`` ``sent`` (delivered to the provider) or ``outbox`` (kept in
    the server's development outbox)."""

    type: ClassVar[str] = "invite_sent"
    invite_id: str = ""
    channel: str = ""
    to: str = ""
    status: str = ""


@dataclass(frozen=True)
class InviteToHost(Message):
    """Host socket → server, before any session: email ``invite_name`` (``invite_email``) an
    invitation to host a session on ``url`` ("with me"); ``host_name``/``host_email`` are
    the inviter's. Answered with :class:`HostInviteSent` once the mail server took it."""

    type: ClassVar[str] = "invite_to_host"
    host_name: str = ""
    host_email: str = ""
    invite_name: str = ""
    invite_email: str = ""
    message: str = ""
    url: str = ""


@dataclass(frozen=True)
class HostInviteSent(Message):
    """Answer to :class:`InviteToHost`: the inviter's own ``join_url`` (it waits for the
    invitee, then shows the page), the invitation's expiry, and ``status`` (``sent`` or
    ``outbox``)."""

    type: ClassVar[str] = "host_invite_sent"
    invite_id: str = ""
    join_url: str = ""
    expires_at: float = 0.0
    status: str = ""


@dataclass(frozen=True)
class GetHostInvite(Message):
    """Host → server, before any session: what the invitation with ``token`` says (the
    invitee's page asks before asking the invitee to agree)."""

    type: ClassVar[str] = "get_host_invite"
    token: str = ""


@dataclass(frozen=True)
class HostInviteInfo(Message):
    """Answer to :class:`GetHostInvite`: who invites (``inviter_name``), whom
    (``host_name``, ``host_email``), their note and when the invitation expires."""

    type: ClassVar[str] = "host_invite_info"
    invite_id: str = ""
    inviter_name: str = ""
    host_name: str = ""
    host_email: str = ""
    message: str = ""
    expires_at: float = 0.0


@dataclass(frozen=True)
class AcceptHostInvite(Message):
    """Host → server after :class:`Hello`, instead of :class:`StartSession`: the invitee
    agreed; host the session the invitation made. Answered with :class:`SessionStarted`.
    ``code`` is the one the invitation's email gave (the link alone hosts nothing)."""

    type: ClassVar[str] = "accept_host_invite"
    token: str = ""
    page_id: str = ""
    code: str = ""


@dataclass(frozen=True)
class WatchReplay(Message):
    """Host → server after :class:`Hello` (or after ``EndSession`` on the same socket): follow
    the replay of the session ``resume_token`` names. Answered with a :class:`ReplayUpdate`;
    later updates are pushed (``ref`` 0) until it is complete, failed or abandoned."""

    type: ClassVar[str] = "watch_replay"
    resume_token: str = ""


#: Replays: the narration's chunk types (``audio`` frames' ``mime``) → the file extension.
AUDIO_TYPES = {
    "audio/webm;codecs=opus": "webm",
    "audio/ogg;codecs=opus": "ogg",
    "audio/webm": "webm",
    "audio/ogg": "ogg",
}
#: An ``audio`` frame's ``segment`` id (one per MediaRecorder run), as a regular expression.
AUDIO_SEGMENT = r"[A-Za-z0-9_-]{1,40}"
MAX_AUDIO_CHUNK_BYTES = 1024 * 1024
#: ``SendVideo.to_emails``: at most this many addresses.
MAX_VIDEO_RECIPIENTS = 10
#: A site's ``replayMaxSeconds`` when it sets none.
DEFAULT_REPLAY_MAX_SECONDS = 600

#: ReplayUpdate.status values, in the order a replay goes through them.
REPLAY_STATUSES = ("recording", "queued", "rendering", "complete", "failed", "abandoned")


@dataclass(frozen=True)
class ReplayUpdate(Message):
    """Server → host: where a replay's render job is. ``percent`` 0 to 100; ``stage`` one of
    ``queued``, ``replaying``, ``encoding``, ``done``; ``eta_seconds`` < 0 when unknown;
    ``video_url`` once complete; ``error`` once failed; ``send_status`` ``""``, ``queued``,
    ``sent``, ``outbox`` or ``failed`` (a ``sendVideo`` asked for)."""

    type: ClassVar[str] = "replay_update"
    replay_id: str = ""
    status: str = "queued"
    percent: float = 0.0
    stage: str = "queued"
    eta_seconds: float = -1.0
    duration: float = 0.0
    """Length of the recording, seconds."""
    video_url: str = ""
    error: str = ""
    send_status: str = ""


@dataclass(frozen=True)
class SendVideo(Message):
    """Host → server: email the video's link to ``to_emails`` (the host's email if empty):
    at once if rendered, else when rendering completes. Answered with :class:`VideoSent`."""

    type: ClassVar[str] = "send_video"
    resume_token: str = ""
    to_emails: list[str] = field(default_factory=list)
    subject: str = ""
    message: str = ""


@dataclass(frozen=True)
class VideoSent(Message):
    """Server → host: ``status`` is ``sent`` (the mail server took it), ``outbox`` (no mail
    server configured) or ``queued`` (sent when rendering completes)."""

    type: ClassVar[str] = "video_sent"
    status: str = ""
    to: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class AbandonReplay(Message):
    """Host → server: delete the recording and the video (a render under way stops).
    Answered with :class:`Ok`."""

    type: ClassVar[str] = "abandon_replay"
    resume_token: str = ""


# -- Extensions (docs/CONTROL.md): remote control with consent, drawing, join codes --------
#: What a guest's control input may be (``ControlInput.kind``).
CONTROL_KINDS = frozenset({"click", "dblclick", "key", "text", "scroll"})
#: Drawing tools (``Draw.tool``): a stroke that fades, or a laser trail.
DRAW_TOOLS = frozenset({"pen", "laser"})
#: At most this many numbers (x, y pairs) in one ``draw`` message.
MAX_DRAW_NUMBERS = 128


@dataclass(frozen=True)
class RequestControl(Message):
    """Guest → server: ask the host's visitor for control of the page; ``ok``, or
    ``control_disabled`` / ``guest_muted`` / ``rate_limited``. The host hears
    :class:`ControlRequested`; the answer comes as :class:`ControlChanged` or
    :class:`ControlDeclined`."""

    type: ClassVar[str] = "request_control"


@dataclass(frozen=True)
class ReleaseControl(Message):
    """Guest → server: give control back (``ok`` even when it had none)."""

    type: ClassVar[str] = "release_control"


@dataclass(frozen=True)
class ControlRequested(Message):
    """Server → host push: a guest asks for control; ``withdrawn``: it no longer does (it
    sent ``release_control`` before the visitor answered: a dialog about it closes)."""

    type: ClassVar[str] = "control_requested"
    guest_id: str = ""
    withdrawn: bool = False


@dataclass(frozen=True)
class SetControl(Message):
    """Host → server: give control to ``guest_id`` (the visitor agreed), or take it back
    (``""``). ``ok``, or ``not_found`` / ``guest_muted`` / ``control_disabled``."""

    type: ClassVar[str] = "set_control"
    guest_id: str = ""


@dataclass(frozen=True)
class DeclineControl(Message):
    """Host → server: the visitor turned down ``guest_id``'s request (the guest hears
    :class:`ControlDeclined`)."""

    type: ClassVar[str] = "decline_control"
    guest_id: str = ""


@dataclass(frozen=True)
class SetControlAllowed(Message):
    """Host → server: ``allowed`` false refuses every request for the rest of the session
    and takes control back."""

    type: ClassVar[str] = "set_control_allowed"
    allowed: bool = True


@dataclass(frozen=True)
class ControlChanged(Message):
    """Server → host and guests push: who controls the page now (``guest_id`` "" for
    nobody) and whether the page takes requests."""

    type: ClassVar[str] = "control_changed"
    guest_id: str = ""
    name: str = ""
    allowed: bool = True


@dataclass(frozen=True)
class ControlDeclined(Message):
    """Server → guest push: the visitor turned down this guest's request."""

    type: ClassVar[str] = "control_declined"


@dataclass(frozen=True)
class ControlInput(Message):
    """Guest → server → host: one input of the guest that controls the page, in the host's
    document coordinates (CSS px). ``kind``: ``click``/``dblclick`` at (x, y), ``key``
    (``key`` as KeyboardEvent.key, ``mods`` bits shift 1, ctrl 2, alt 4, meta 8), ``text``
    (typed or pasted ``text``), ``scroll`` (by ``dx``, ``dy`` at (x, y)). The server sets
    ``guest_id`` when it relays it; it refuses ``not_controller`` from any other guest."""

    type: ClassVar[str] = "control_input"
    max_chars: ClassVar[dict[str, int]] = {"key": 32, "text": 256, "guest_id": 64}
    kind: str = ""
    x: float = 0.0
    y: float = 0.0
    key: str = ""
    text: str = ""
    dx: float = 0.0
    dy: float = 0.0
    mods: int = 0
    guest_id: str = ""


@dataclass(frozen=True)
class ControlRefused(Message):
    """Host → server → guest: the page did not apply the guest's input (``code``
    ``control_refused``: a masked or password field, a page outside the site)."""

    type: ClassVar[str] = "control_refused"
    max_chars: ClassVar[dict[str, int]] = {"guest_id": 64, "code": 64, "message": 300}
    guest_id: str = ""
    code: str = ErrorCode.CONTROL_REFUSED
    message: str = ""


@dataclass(frozen=True)
class Draw(Message):
    """Guest → server: part of a stroke (``tool`` ``pen``) or of a laser trail, ``points``
    flat ``[x0, y0, x1, y1, ...]`` in the host's document coordinates; ``stroke`` is the
    guest's id for it, ``done`` its last part. Refused ``guest_muted``, ``rate_limited``."""

    type: ClassVar[str] = "draw"
    max_chars: ClassVar[dict[str, int]] = {"stroke": 16, "points": MAX_DRAW_NUMBERS}
    stroke: str = ""
    tool: str = "pen"
    points: list[float] = field(default_factory=list)
    done: bool = False


@dataclass(frozen=True)
class GuestDraw(Message):
    """Server → host and the other guests push: a guest's :class:`Draw`."""

    type: ClassVar[str] = "guest_draw"
    guest_id: str = ""
    name: str = ""
    color: str = ""
    stroke: str = ""
    tool: str = "pen"
    points: list[float] = field(default_factory=list)
    done: bool = False


@dataclass(frozen=True)
class CreateJoinCode(Message):
    """Host → server: a short code a guest types on the server's ``/join`` page; answered
    with :class:`JoinCodeCreated`. The code admits one device, as a private link does."""

    type: ClassVar[str] = "create_join_code"


@dataclass(frozen=True)
class JoinCodeCreated(Message):
    type: ClassVar[str] = "join_code"
    code: str = ""
    url: str = ""
    """The page where the code is typed (``PUBLIC_URL/join``)."""
    expires_at: float = 0.0


MESSAGE_TYPES: dict[str, type[Message]] = {
    cls.type: cls
    for cls in (
        Hello,
        Welcome,
        StartSession,
        SessionStarted,
        EndSession,
        SessionEnded,
        ErrorReply,
        Ping,
        Pong,
        Ok,
        ResumeSession,
        SessionResumed,
        MirrorFrame,
        Ack,
        SnapshotRequest,
        CreateLink,
        LinkCreated,
        SetPrivacy,
        GuestJoined,
        GuestLeft,
        Join,
        Joined,
        Paused,
        HostStatus,
        GuestUpdated,
        SetName,
        MuteGuest,
        MuteAll,
        RemoveGuest,
        SetPublicLink,
        CreatePublicLink,
        PointerMove,
        PointerClick,
        GuestPointer,
        GuestClick,
        Muted,
        Removed,
        InviteGuest,
        InviteSent,
        InviteToHost,
        HostInviteSent,
        GetHostInvite,
        HostInviteInfo,
        AcceptHostInvite,
        WatchReplay,
        ReplayUpdate,
        SendVideo,
        VideoSent,
        AbandonReplay,
        RequestControl,
        ReleaseControl,
        ControlRequested,
        SetControl,
        DeclineControl,
        SetControlAllowed,
        ControlChanged,
        ControlDeclined,
        ControlInput,
        ControlRefused,
        Draw,
        GuestDraw,
        CreateJoinCode,
        JoinCodeCreated,
    )
}
