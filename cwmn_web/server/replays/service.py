"""Replay requests of a host socket (``watch_replay``, ``send_video``, ``abandon_replay``),
sending queued video links, and the retention purge. One per app (``app.state.replays``);
the render worker makes its own."""

from __future__ import annotations

import logging
import time
from typing import NoReturn

from starlette.concurrency import run_in_threadpool

from ...errors import InvalidState, NotFound
from ...protocol.messages import ReplayUpdate, SendVideo, VideoSent
from ..config import Settings
from ..db import InviteStatus, RenderStage, ReplayStatus, SendStatus, Store
from ..db.replays import ACTIVE, ReplayRecord
from ..invites.sender import NO_SENDER, Sender
from ..invites.service import Invites
from ..page_assets.purge import purge_assets
from .mail import check_send, reserve, send_links, video_url
from .storage import replay_storage

__all__ = ["ReplayService", "purge_expired", "replay_changed", "replay_update"]

log = logging.getLogger("cwmn_web.server.replays")
MAX_TOKEN = 200


def replay_update(
    record: ReplayRecord | None,
    key: bytes,
    replay_id: str = "",
    ref: int = 0,
    public_url: str = "",
) -> ReplayUpdate:
    """What the host hears of ``record`` (gone: ``abandoned``); its video link is derived
    under ``key`` (the server's secret), on ``public_url`` if set."""
    if record is None:
        return ReplayUpdate(
            ref=ref, replay_id=replay_id, status=ReplayStatus.ABANDONED, stage=RenderStage.DONE
        )
    complete = record.status == ReplayStatus.COMPLETE
    return ReplayUpdate(
        ref=ref,
        replay_id=record.id,
        status=record.status,
        percent=round(record.percent, 1),
        stage=record.stage,
        eta_seconds=record.eta_seconds,
        duration=round(record.duration, 3),
        video_url=video_url(record, key, public_url) if complete else "",
        error=(record.error or "") if record.status == ReplayStatus.FAILED else "",
        send_status=record.send_status,
    )


def replay_changed(last: ReplayUpdate, update: ReplayUpdate) -> bool:
    """Whether ``update`` tells a watching host something ``last`` did not."""

    def key(u: ReplayUpdate) -> tuple[object, ...]:
        return (u.status, u.percent, u.stage, u.send_status)

    return key(update) != key(last)


class ReplayService:
    """Replays for hosts: find one by resume token, email its link, throw it away."""

    def __init__(self, settings: Settings, store: Store, invites: Invites) -> None:
        self.settings, self.store, self.invites = settings, store, invites
        #: The server's secret, that video links are derived from (:mod:`..secret`).
        self.key = invites.key
        self.storage = replay_storage(settings.data_dir)

    def update(
        self, record: ReplayRecord | None, replay_id: str = "", ref: int = 0
    ) -> ReplayUpdate:
        """:func:`replay_update` with this server's key."""
        return replay_update(record, self.key, replay_id, ref, self.settings.public_url)

    async def find(self, resume_token: str, site_id: int) -> ReplayRecord:
        """The replay of the session ``resume_token`` names; ``not_found`` otherwise (a
        realtime session's token, another site's, a purged replay)."""
        session = None
        if 0 < len(resume_token) <= MAX_TOKEN:
            session = await run_in_threadpool(self.store.session_by_resume_token, resume_token)
        record = None
        if session is not None and session.site_id == site_id and session.is_replay:
            record = await run_in_threadpool(self.store.replays.get, session.id)
        if record is None:
            raise NotFound("no replay has this resume token (it may have expired)")
        return record

    async def get(self, replay_id: str) -> ReplayRecord | None:
        return await run_in_threadpool(self.store.replays.get, replay_id)

    async def send(
        self, record: ReplayRecord, message: SendVideo, sender: Sender = NO_SENDER
    ) -> VideoSent:
        """Email the link now (complete) or once rendered; ``invalid_params``,
        ``rate_limited``, ``invite_failed``, ``invite_unavailable``; ``invalid_state``
        when there is no video to send (failed or abandoned)."""
        request = check_send(message, record.host_email)
        if record.status not in (*ACTIVE, ReplayStatus.COMPLETE):
            raise_no_video(record)
        waiting = record.status != ReplayStatus.COMPLETE
        status = InviteStatus.QUEUED if waiting else InviteStatus.SENDING
        pairs = await reserve(self.invites, record, request.to, status, sender)
        if waiting:
            args = (record.id, pairs, request.subject, request.message)
            if await run_in_threadpool(self.store.replays.request_send, *args):
                return VideoSent(ref=message.ref, status=SendStatus.QUEUED, to=request.to)
            latest = await self.get(record.id)  # it completed (or failed) meanwhile
            if latest is None or latest.status != ReplayStatus.COMPLETE:
                await self._cancel(pairs, "the replay has no video")
                raise_no_video(latest)
            record = latest
        sent, error = await send_links(
            self.invites, record, pairs, request.subject, request.message, self.key
        )
        await run_in_threadpool(self.store.replays.finish_send, record.id, sent)
        if error is not None and sent == SendStatus.FAILED:
            raise error
        return VideoSent(ref=message.ref, status=sent, to=request.to)

    async def deliver_queued(self, replay_id: str) -> SendStatus | None:
        """Send a complete replay's queued email, if this process wins it (exactly one
        does: the render worker right after completing, or a host socket watching)."""
        replays = self.store.replays
        record = await run_in_threadpool(replays.claim_send, replay_id)
        if record is None:
            return None
        status, error = await send_links(
            self.invites,
            record,
            record.recipients,
            record.send_subject or "",
            record.send_message or "",
            self.key,
            lambda: run_in_threadpool(replays.beat_send, replay_id),
        )
        if error is not None:
            log.warning("replay %s: video link not sent to everyone: %s", replay_id, error)
        await run_in_threadpool(replays.finish_send, replay_id, status, True)
        return status

    async def settle_sends(self, replay_id: str) -> ReplayRecord | None:
        """Do what is due of the replay's email, then return its row: a complete replay's
        queued email sent (if this process wins it), a send whose sender died (``sending``
        for :data:`~cwmn_web.server.db.replays.SEND_STALE_SECONDS`) failed."""
        record = await self.get(replay_id)
        if record is None or record.status != ReplayStatus.COMPLETE:
            return record
        if record.send_status == SendStatus.QUEUED:
            changed = await self.deliver_queued(replay_id) is not None
        elif record.send_status == SendStatus.SENDING:
            changed = bool(await run_in_threadpool(self.store.replays.expire_sends, replay_id))
            if changed:
                log.warning("replay %s: its sender stopped mid-send: send failed", replay_id)
        else:
            changed = False
        return await self.get(replay_id) if changed else record

    async def abandon(self, record: ReplayRecord) -> None:
        """Throw the replay away: its files go, a render under way stops, its URL 404s."""
        await run_in_threadpool(self.store.replays.abandon, record.id)
        if record.send_status == SendStatus.QUEUED:
            await self._cancel(record.recipients, "the host abandoned the replay")
        await run_in_threadpool(self.storage.delete, record.id)

    async def _cancel(self, pairs: list[tuple[str, str]], why: str) -> None:
        for invite_id, _ in pairs:
            finish = self.store.finish_invite
            await run_in_threadpool(finish, invite_id, InviteStatus.FAILED, "", None, why)


def raise_no_video(record: ReplayRecord | None) -> NoReturn:
    state = record.status if record is not None else ReplayStatus.ABANDONED
    raise InvalidState(f"this replay is {state}: it has no video to send")


def purge_expired(settings: Settings, store: Store, now: float | None = None) -> int:
    """Delete the replays past their retention (files and rows), then the page assets of
    sessions that are over and of replays gone, and the content no one refers to any
    more (docs/FIDELITY.md); how many replays went."""
    count = 0
    now = time.time() if now is None else now
    storage = replay_storage(settings.data_dir)
    for replay_id in store.replays.expired(now):
        storage.delete(replay_id)
        store.replays.delete(replay_id)
        count += 1
    purge_assets(settings, store, now)
    return count
