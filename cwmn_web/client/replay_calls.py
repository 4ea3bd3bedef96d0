"""The replay calls: mute the narration while recording; then, on the render, send the
video, get its URL, abandon it, follow its progress, dismiss its error."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import CwmnError, InvalidState, ProtocolError
from ..protocol.messages import AbandonReplay, SendVideo, VideoSent
from .calls import INVITE_TIMEOUT, Reply
from .replay import ReplayWatch
from .requests import Outcome
from .states import State, Trigger

if TYPE_CHECKING:
    from .controller import HostController

__all__ = ["ReplayCalls"]


class ReplayCalls:
    """Answers the ``replay.*`` calls from the host's narration and replay watch."""

    def __init__(self, host: HostController) -> None:
        self.host = host

    def mute_audio(self, params: dict[str, Any], reply: Reply) -> None:
        host = self.host
        session = host.lifecycle.require_session()
        if host.narration is None:
            raise InvalidState("this session is not a replay: there is no narration to mute")
        muted = host.narration.mute(params["muted"])
        host.lifecycle.remember(session, muted=muted)
        reply(muted)

    def _require_watch(self) -> ReplayWatch:
        if self.host.watch is None:
            raise InvalidState("there is no replay on this page")
        return self.host.watch

    def send_video(self, params: dict[str, Any], reply: Reply) -> None:
        """Email the video now (rendered) or when rendering completes (waiting)."""
        host = self.host
        watch = self._require_watch()
        request = SendVideo(
            resume_token=watch.token,
            to_emails=list(params.get("toEmails") or ()),
            subject=params.get("subject") or "",
            message=params.get("message") or "",
        )

        def answered(answer: Outcome) -> None:
            if isinstance(answer, CwmnError):
                reply(answer)
                return
            if not isinstance(answer, VideoSent):
                reply(ProtocolError(f"expected video_sent, got {answer.type}"))
                return
            result = {"status": answer.status, "to": list(answer.to)}
            if host.state is State.REPLAY_COMPLETE and answer.status != "queued":
                host.move(Trigger.SEND_VIDEO)
            else:  # queued, or sent at once as rendering completed: done once complete
                watch.send_queued = True
            reply(result)

        watch.request(request, answered, INVITE_TIMEOUT)

    def video_url(self, params: dict[str, Any], reply: Reply) -> None:
        reply(self._require_watch().video_url())

    def abandon_video(self, params: dict[str, Any], reply: Reply) -> None:
        """The server deletes the recording and the video; the page goes back to no session."""
        host = self.host
        watch = self._require_watch()

        def answered(answer: Outcome) -> None:
            if isinstance(answer, CwmnError):
                reply(answer)
                return
            if host.state in (State.WAITING_FOR_REPLAY, State.REPLAY_COMPLETE):
                host.move(Trigger.ABANDON_VIDEO)
            reply(None)

        watch.request(AbandonReplay(resume_token=watch.token), answered)

    def rendering_progress(self, params: dict[str, Any], reply: Reply) -> None:
        reply(self._require_watch().progress)

    def dismiss_error(self, params: dict[str, Any], reply: Reply) -> None:
        self.host.move(Trigger.DISMISS_ERROR)
        reply(None)
