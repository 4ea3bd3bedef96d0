"""TypeScript declarations of ``window.CwmnAPI`` (``cwmn.d.ts``), made from the same tables
as the stub: the function list and states (:mod:`.spec`), the events (:mod:`.events`) and the
error codes (:mod:`cwmn_web.errors`). Only the TypeScript signatures are written here, and a
unit test checks they cover exactly the functions of the spec. No I/O here.
"""

from __future__ import annotations

import json

from ..errors import CODES
from .events import EVENTS
from .spec import FUNCTIONS
from .states import State

__all__ = ["SIGNATURES", "declarations"]

#: path → TypeScript signature (parameters and result), one per CwmnAPI function.
SIGNATURES: dict[str, str] = {
    "on": "<E extends CwmnEventName>(eventName: E, callback: CwmnEvents[E]): void",
    "once": "<E extends CwmnEventName>(eventName: E, callback: CwmnEvents[E]): () => void",
    "off": "<E extends CwmnEventName>(eventName: E, callback: CwmnEvents[E]): void",
    "getCurrentState": "(): CwmnState",
    "isCompatible": "(): boolean",
    "getDomainInfo": "(): DomainInfo",
    "session.start": "(params: StartParams): Promise<SessionInfo>",
    "session.inviteToHost": "(params: InviteToHostParams): Promise<HostInviteResult>",
    "session.acceptHostInvite": "(params?: { code: string }): Promise<SessionInfo>",
    "session.declineHostInvite": "(): Promise<void>",
    "session.endSession": "(): Promise<{ sessionId: string; reason: 'ended' | 'expired' }>",
    "session.getSessionInfo": "(): SessionInfo",
    "guest.inviteGuest": "(params: EmailInviteParams | SmsInviteParams): Promise<InviteResult>",
    "guest.getInviteLink": "(): Promise<string>",
    "guest.removeGuest": "(params: { guestId: string } | string): Promise<void>",
    "guest.muteGuest": (
        "(params: { guestId: string; muted: boolean } | string, muted?: boolean): Promise<void>"
    ),
    "guest.muteAllGuests": "(status: boolean): Promise<boolean>",
    "guest.getMuteAllGuests": "(): boolean",
    "guest.getGuestList": "(): Guest[]",
    "publicLink.setEnabled": "(enabled: boolean): Promise<boolean>",
    "publicLink.getEnabled": "(): boolean",
    "publicLink.generate": "(): Promise<string>",
    "privacy.setEnabled": "(enabled: boolean): Promise<boolean>",
    "privacy.getEnabled": "(): boolean",
    "replay.muteAudio": "(muted: boolean): Promise<boolean>",
    "replay.sendVideo": "(params?: SendVideoParams): Promise<SendVideoResult>",
    "replay.getVideoURL": "(): Promise<string>",
    "replay.abandonVideo": "(): Promise<void>",
    "replay.getRenderingProgress": "(): Promise<{ percent: number; completed: boolean }>",
    "replay.dismissError": "(): Promise<void>",
    "guest.getJoinCode": "(): Promise<JoinCode>",
    "control.grant": "(params: { guestId: string } | string): Promise<void>",
    "control.decline": "(params: { guestId: string } | string): Promise<void>",
    "control.revoke": "(): Promise<void>",
    "control.setAllowed": "(allowed: boolean): Promise<boolean>",
    "control.getAllowed": "(): boolean",
    "control.getController": "(): Guest | null",
    "indicator.setEnabled": "(enabled: boolean): Promise<boolean>",
    "indicator.getEnabled": "(): boolean",
    "indicator.showMasked": "(enabled: boolean): Promise<boolean>",
}

_TYPES = """\
export interface CwmnError extends Error {
  name: 'CwmnError';
  /** Stable; the message says what to fix. */
  code: CwmnErrorCode;
}

export interface Guest {
  guestId: string;
  name: string;
  /** The guest's own flag (muteGuest); it is muted when this or getMuteAllGuests() is set. */
  muted: boolean;
  /** Where the guest points, in the host page's document coordinates (CSS px). */
  pointer: { x: number; y: number } | null;
  joinedAt: number;
  via: 'private' | 'public' | 'invite';
  /** The colour of the guest's cursor (CSS hex). */
  color: string;
  /** Extension: this guest controls the page (control.grant). */
  controlling?: boolean;
}

export interface ReplayProgress {
  percent: number;
  stage: 'queued' | 'replaying' | 'encoding' | 'done';
  etaSeconds: number | null;
}
export interface SendVideoResult {
  /** sent: the mail server took it; outbox: kept by the server; queued: sent once rendered. */
  status: 'sent' | 'outbox' | 'queued';
  to: string[];
}

export interface DomainInfo {
  domain: string;
  /** null when the server could not be asked. */
  authorized: boolean | null;
  site?: { id: number; name: string } | null;
  features?: Record<string, boolean>;
  settings?: Record<string, unknown>;
}

export interface SessionInfo {
  sessionId: string;
  isReplay: boolean;
  hostName: string;
  hostEmail: string;
  startedAt: number;
  pageUrl: string;
  /** Replays only: the narration (pending while the browser asks for the microphone). */
  audio?: 'pending' | 'recording' | 'unavailable' | 'stopped';
  audioMuted?: boolean;
  /** Why there is no narration (audio 'unavailable'). */
  audioError?: string;
}

export interface StartParams {
  hostName: string; hostEmail: string; isReplay?: boolean;
  /** Extension: end after this many seconds without activity (at most the server's). */
  idleTimeout?: number;
}
/** Extension: a code a guest types on the server's /join page (guest.getJoinCode). */
export interface JoinCode {
  /** Eight digits. */
  code: string;
  /** The page where it is typed. */
  url: string;
  /** Seconds since the epoch. */
  expiresAt: number;
}
export interface InviteToHostParams {
  hostName: string; hostEmail: string; inviteName: string; inviteEmail: string;
  message?: string; url: string;
}
export interface HostInviteResult {
  inviteId: string;
  /** The inviter's own join link: it waits for the invitee to share, then shows the page. */
  joinUrl: string;
  /** When the invitation expires (seconds since the epoch). */
  expiresAt: number;
  /** 'outbox': the server has no mail settings and kept it (GET /outbox). */
  status: 'sent' | 'outbox';
}
/** What an invitation to host says ('host invite' event). */
export interface HostInvite {
  inviteId: string;
  inviterName: string;
  /** The invitee: the session's host once accepted. */
  hostName: string;
  hostEmail: string;
  message: string;
  expiresAt: number;
}
export interface EmailInviteParams { guestName: string; guestEmail: string; message?: string; }
export interface SmsInviteParams { guestPhone: string; guestName?: string; message?: string; }
export interface InviteResult {
  inviteId: string;
  channel: 'email' | 'sms';
  /** The guest's address, or the phone number in E.164 (+13145550000). */
  to: string;
  /** 'outbox': the server has no mail or SMS settings and kept it (GET /outbox). */
  status: 'sent' | 'outbox';
}
export interface SendVideoParams { toEmails?: string[]; subject?: string; message?: string; }
"""


def _union(values: object) -> str:
    return " | ".join(json.dumps(v) for v in values)  # type: ignore[attr-defined]


def _events() -> str:
    lines = []
    for name, spec in EVENTS.items():
        args = ", ".join(f"{arg}: {kind}" for arg, kind in spec.args)
        lines.append(f"  /** {spec.doc} */\n  {json.dumps(name)}: ({args}) => void;")
    return "export interface CwmnEvents {\n" + "\n".join(lines) + "\n}\n"


def _api() -> str:
    top: list[tuple[str, str]] = []
    spaces: dict[str, list[tuple[str, str]]] = {}
    for path, spec in FUNCTIONS.items():
        states = (
            "any state"
            if spec.states == frozenset(State)
            else ", ".join(s.value for s in State if s in spec.states)
        )
        namespace, _, name = path.rpartition(".")
        doc = ("Extension: " if spec.extension else "") + spec.doc
        member = (f"/** {doc} Valid in: {states}. */", f"{name}{SIGNATURES[path]};")
        (spaces.setdefault(namespace, []) if namespace else top).append(member)

    def block(members: list[tuple[str, str]], indent: str) -> list[str]:
        return [line for doc, sig in members for line in (indent + doc, indent + sig)]

    body = block(top, "  ")
    for namespace, members in spaces.items():
        body += [f"  {namespace}: {{", *block(members, "    "), "  };"]
    return "export interface CwmnAPI {\n" + "\n".join(body) + "\n}\n"


def declarations() -> str:
    """The whole ``cwmn.d.ts``."""
    return "\n".join(
        [
            "// cwmn.d.ts: window.CwmnAPI. Generated by build.py from cwmn_web/client/spec.py,",
            "// events.py and cwmn_web/errors.py; do not edit.",
            "",
            f"export type CwmnState = {_union(s.value for s in State)};",
            f"export type CwmnErrorCode = {_union(CODES)};",
            "export type CwmnEventName = keyof CwmnEvents;",
            "",
            _TYPES,
            _events(),
            _api(),
            "declare global {\n  interface Window { CwmnAPI: CwmnAPI; }\n  "
            "const CwmnAPI: CwmnAPI;\n}\n",
        ]
    )
