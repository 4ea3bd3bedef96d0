"""The store work of a host's requests, as functions of what the edge has: the real edge
(:mod:`.host_socket`) runs the synchronous ones in its threadpool and awaits the others;
the in-memory harness (``tests/helpers/live_core``) calls the same ones on its fake clock.
What stays at each edge is only how it waits: locks, tasks, carrying outputs out."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ..errors import CwmnError, ErrorCode, NotFound, Unauthorized
from ..protocol.messages import (
    AbandonReplay,
    CreateJoinCode,
    CreateLink,
    GetHostInvite,
    HostInviteInfo,
    HostInviteSent,
    InviteGuest,
    InviteSent,
    InviteToHost,
    JoinCodeCreated,
    LinkCreated,
    Message,
    Ok,
    ReplayUpdate,
    SendVideo,
    StartSession,
)
from .config import Settings
from .db import SessionRecord, Store
from .host_invites import find_invitation
from .host_tokens import HostIdentity
from .invites.host import send_host_invite
from .invites.sender import NO_SENDER, Sender
from .invites.service import Inviter, Invites
from .links import join_url
from .live.outputs import ConnId, Outputs
from .replays.service import ReplayService, replay_changed
from .rooms import Room
from .sites import Site

__all__ = [
    "abandon_replay",
    "check_invitee",
    "host_invite_info",
    "invitation_expired",
    "invite_guest",
    "invite_to_host",
    "new_join_code",
    "new_link",
    "new_public_link",
    "new_session",
    "replay_news",
    "reply",
    "send_video",
    "session_ended",
    "session_to_resume",
]


def reply(conn: ConnId, message: Message) -> Outputs:
    """Outputs that send ``message`` on ``conn``, and nothing else."""
    out = Outputs()
    out.send(conn, message)
    return out


# -- sessions -------------------------------------------------------------------------------
def new_session(
    store: Store,
    site_id: int,
    message: StartSession,
    origin: str,
    page_url: str,
    stamp: float | None = None,
    host: HostIdentity | None = None,
) -> SessionRecord:
    """A new session's row for ``start_session`` (names cut to the store's sizes). ``host``:
    the identity a host token vouched for; its name and email win over the page's. Only a
    name the token gave is marked verified: without one, guests see the page's, unverified."""
    name, email = message.host_name, message.host_email
    verified = host is not None and bool(host.name)
    if host is not None:
        name, email = host.name or name, host.email or email
    return store.create_session(
        site_id,
        name[:200],
        email[:254],
        message.is_replay,
        origin,
        page_url,
        now=stamp,
        host_subject=host.subject if host is not None else None,
        host_name_verified=verified,
    )


def session_to_resume(store: Store, resume_token: str, site_id: int) -> SessionRecord:
    """The session of site ``site_id`` that ``resume_token`` names; else ``not_found``."""
    record = None
    if 0 < len(resume_token) <= 200:
        record = store.session_by_resume_token(resume_token)
    if record is None or record.site_id != site_id:
        raise NotFound("no session has this resume token: start a new session")
    return record


def session_ended() -> CwmnError:
    """The error of a resume whose session is over."""
    return CwmnError("the session has ended: start a new session", ErrorCode.SESSION_ENDED)


def invitation_expired() -> CwmnError:
    """The error of an invitation to host whose session expired as it was accepted."""
    return CwmnError("the invitation expired: ask for a new one", ErrorCode.LINK_INVALID)


# -- links ----------------------------------------------------------------------------------
def new_link(
    store: Store,
    session_id: str,
    ttl: float,
    base: str,
    message: CreateLink,
    stamp: float | None = None,
) -> LinkCreated:
    """A new private link to the session, as ``create_link`` answers it."""
    record = store.create_link(session_id, ttl, now=stamp)
    url = join_url(base, record.token)
    return LinkCreated(ref=message.ref, url=url, expires_at=record.expires_at)


def new_public_link(
    store: Store,
    room: Room,
    max_session_seconds: float,
    base: str,
    now: float,
    stamp: float | None = None,
) -> Callable[[], tuple[str, float]]:
    """The work that makes the session's public link (run it in the store's thread): its URL
    and when it expires (it lasts as long as the session may). Made while the link is off,
    it starts off (its row holds the flag). The room is read here, on the caller's thread:
    the work gets plain values only."""
    session_id, enabled = room.session_id, room.public_enabled
    ttl = max(room.started_at + max_session_seconds - now, 0.0)

    def make() -> tuple[str, float]:
        record = store.create_link(session_id, ttl, "public", now=stamp)
        if not enabled:
            store.set_public_links(session_id, False, now=stamp)
        return join_url(base, record.token), record.expires_at

    return make


def new_join_code(
    store: Store,
    room: Room,
    key: bytes,
    settings: Settings,
    base: str,
    message: CreateJoinCode,
    now: float,
) -> Callable[[], JoinCodeCreated]:
    """The work that makes a join code (run it in the store's thread): it expires after
    ``CWMN_JOIN_CODE_SECONDS``, or with the session if that comes first. The room is read
    here, on the caller's thread."""
    session_id = room.session_id
    expires_at = min(
        now + settings.join_code_seconds, room.started_at + settings.max_session_seconds
    )
    per_session = settings.join_codes_per_session

    def make() -> JoinCodeCreated:
        made = store.create_join_code(session_id, key, expires_at, per_session, now=now)
        url = f"{base}/join"
        return JoinCodeCreated(ref=message.ref, code=made.code, url=url, expires_at=made.expires_at)

    return make


# -- invites (answered when sent) -----------------------------------------------------------
async def invite_guest(
    invites: Invites,
    site_id: int,
    room: Room,
    settings: dict[str, object],
    base: str,
    message: InviteGuest,
    sender: Sender = NO_SENDER,
) -> InviteSent:
    """Send an email or SMS invite to a guest of ``room``'s session."""
    inviter = Inviter.of(site_id, room.session_id, room.host_name, settings, base, sender)
    sent = await invites.send(inviter, message)
    return InviteSent(
        ref=message.ref,
        invite_id=sent.invite_id,
        channel=sent.channel,
        to=sent.to,
        status=sent.status,
    )


async def invite_to_host(
    invites: Invites,
    site: Site,
    origin: str,
    base: str,
    message: InviteToHost,
    sender: Sender = NO_SENDER,
    host: HostIdentity | None = None,
) -> HostInviteSent:
    """Email an invitation to host a session on one of ``site``'s pages; ``host``: the
    token's identity on a site that requires host tokens (the inviter the email names)."""
    sent = await send_host_invite(
        invites, site.id, site.domains, origin, base, message, sender, host
    )
    return HostInviteSent(
        ref=message.ref,
        invite_id=sent.invite_id,
        join_url=sent.join_url,
        expires_at=sent.expires_at,
        status=sent.status,
    )


async def send_video(
    replays: ReplayService, site_id: int, message: SendVideo, sender: Sender = NO_SENDER
) -> Message:
    """Send the link to a replay's video."""
    record = await replays.find(message.resume_token, site_id)
    return await replays.send(record, message, sender)


async def host_invite_info(store: Store, site_id: int, message: GetHostInvite) -> HostInviteInfo:
    """What an invitation to host says, for the invitee's page to show."""
    invite, session = await find_invitation(store, message.token, site_id)
    return HostInviteInfo(
        ref=message.ref,
        invite_id=invite.invite_id,
        inviter_name=invite.inviter_name,
        host_name=session.host_name,
        host_email=session.host_email,
        message=invite.message,
        expires_at=invite.expires_at,
    )


async def check_invitee(
    store: Store, site_id: int, token: str, tokens: bool, host: HostIdentity | None
) -> None:
    """On a site that requires host tokens (``tokens``), only the invitee accepts an
    invitation to host: the accepting host's token ``email`` must be the address the
    invitation was sent to (compared case-folded); else ``unauthorized``. Checked before
    the code, so a wrong host spends none of the code's tries."""
    if not tokens:
        return
    _, session = await find_invitation(store, token, site_id)
    invitee = session.host_email.strip().casefold()
    if host is None or not host.email or host.email.casefold() != invitee:
        raise Unauthorized(
            "this invitation to host was sent to another email address: only its invitee, "
            "signed in with a host token whose email claim is that address, can accept it"
        )


# -- replays --------------------------------------------------------------------------------
async def replay_news(
    replays: ReplayService, replay_id: str, last: ReplayUpdate
) -> ReplayUpdate | None:
    """One look at a watched replay: send what is due of its email, read its row; what a
    watching host hears now (None: nothing it did not hear in ``last``)."""
    record = await replays.settle_sends(replay_id)
    update = replays.update(record, replay_id)
    return update if replay_changed(last, update) else None


async def abandon_replay(
    replays: ReplayService,
    site_id: int,
    message: AbandonReplay,
    end_live: Callable[[str], Awaitable[None]],
) -> Ok:
    """Throw the replay away; a session still recording ends first (``end_live``, given
    the session's id, ends its live room if it has one)."""
    record = await replays.find(message.resume_token, site_id)
    await end_live(record.id)
    await replays.abandon(record)
    return Ok(ref=message.ref)
