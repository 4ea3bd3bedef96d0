"""Join codes (``join_codes``) and the wrong codes typed (``join_code_failures``):
:mod:`..join_codes` says what a code is; this keeps them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import Connection

from ...errors import CwmnError, RateLimited
from ..join_codes import GLOBAL_WINDOW, AttemptLimits, code_hash, draw_code, invalid_code
from .engine import EngineStore, insert_new, stamp
from .links import LinkRecord, insert_link, new_link
from .locks import exclusive
from .schema import join_code_failures, join_codes, sessions

__all__ = ["REDEEM_LOCK", "JoinCodeStore", "NewJoinCode"]

#: The lock every redemption takes (:func:`.locks.exclusive`): the limits' counts and the
#: wrong code they count are one step, in every process.
REDEEM_LOCK = "join-codes:redeem"
#: New codes drawn before giving up when each is taken (live codes are far fewer than 10^8).
DRAWS = 20


@dataclass(frozen=True)
class NewJoinCode:
    code: str
    expires_at: float


class JoinCodeStore(EngineStore):
    def create_join_code(
        self,
        session_id: str,
        key: bytes,
        expires_at: float,
        per_session: int,
        now: float | None = None,
        draw: Callable[[], str] = draw_code,
    ) -> NewJoinCode:
        """A new code for ``session_id``, unique among the codes not expired (a code drawn
        that is taken is drawn again); expired ones are deleted. ``rate_limited`` if the
        session holds ``per_session`` unused codes already."""
        created = stamp(now)
        with self.engine.begin() as db:
            db.execute(delete(join_codes).where(join_codes.c.expires_at <= created))
            unused = db.execute(
                select(func.count())
                .select_from(join_codes)
                .where(join_codes.c.session_id == session_id, join_codes.c.used_at.is_(None))
            ).scalar_one()
            if unused >= per_session:
                raise RateLimited(
                    f"this session holds {unused} unused join codes, the most allowed: let "
                    "guests use them, or wait until they expire"
                )
            for _ in range(DRAWS):
                code = draw()
                row = db.execute(
                    insert_new(db, join_codes).values(
                        code_hash=code_hash(key, code),
                        session_id=session_id,
                        created_at=created,
                        expires_at=expires_at,
                    )
                ).first()
                if row is not None:
                    return NewJoinCode(code, expires_at)
        raise CwmnError(f"no free join code after {DRAWS} draws: try again")

    def redeem_join_code(
        self,
        code: str,
        key: bytes,
        client: str,
        limits: AttemptLimits,
        link_ttl: float,
        now: float | None = None,
    ) -> LinkRecord:
        """Use ``code`` (8 digits, :func:`..join_codes.normalise`) up: a
        new private link to its session (its token on the record). First, in the same
        step, the limits: ``rate_limited`` (:class:`..join_codes.TooManyAttempts`) while
        ``client``'s wrong codes, or everyone's, fill them, even for a right code. A code
        unknown, expired, used, or of a session that ended is ``join_code_invalid`` and
        counted as ``client``'s. A client already over the limits is refused from a
        read, without waiting for the lock (a flood of refused attempts does not queue on
        it); the locked step checks them again."""
        moment = stamp(now)
        failure = join_code_failures.c
        with self.engine.connect() as db:
            self._check(db, client, limits, moment)
        with exclusive(self.engine, REDEEM_LOCK) as db:
            self._check(db, client, limits, moment)  # nothing written yet
            link = self._use(db, code_hash(key, code), link_ttl, moment)
            if link is None:
                db.execute(delete(join_code_failures).where(failure.at <= moment - limits.longest))
                db.execute(join_code_failures.insert().values(client=client[:64], at=moment))
        if link is None:
            raise invalid_code()
        return link

    @staticmethod
    def _check(db: Connection, client: str, limits: AttemptLimits, moment: float) -> None:
        """Raise :class:`..join_codes.TooManyAttempts` while ``client``'s wrong codes, or
        everyone's, fill the limits."""
        failure = join_code_failures.c
        by_client: list[float] = list(
            db.execute(
                select(failure.at).where(
                    failure.client == client, failure.at > moment - limits.window
                )
            ).scalars()
        )
        by_all: list[float] = list(
            db.execute(
                select(failure.at)
                .where(failure.at > moment - GLOBAL_WINDOW)
                .order_by(failure.at.desc())
                .limit(max(limits.per_minute, 0) + 1)
            ).scalars()
        )
        limits.check(by_client, by_all, moment)

    @staticmethod
    def _use(db: Connection, hashed: str, link_ttl: float, now: float) -> LinkRecord | None:
        """Mark the code used and make its link; None if it cannot be used."""
        row = db.execute(
            select(join_codes.c.session_id, sessions.c.ended_at)
            .select_from(join_codes.join(sessions, sessions.c.id == join_codes.c.session_id))
            .where(
                join_codes.c.code_hash == hashed,
                join_codes.c.used_at.is_(None),
                join_codes.c.expires_at > now,
            )
        ).first()
        if row is None or row.ended_at is not None:
            return None
        used = db.execute(
            update(join_codes)
            .where(join_codes.c.code_hash == hashed, join_codes.c.used_at.is_(None))
            .values(used_at=now)
        )
        if used.rowcount != 1:
            return None
        link = new_link(row.session_id, now, link_ttl)
        insert_link(db, link)
        return link
