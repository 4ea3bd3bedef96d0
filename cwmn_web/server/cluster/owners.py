"""Who is alive and who holds which room, in the database, on the database's clock.

Each process beats every second (``server_processes.heartbeat_at``); one that has not for
``ttl`` seconds is dead. A session's room has at most one owner (``room_owners``): taking a
room is a conditional write that exactly one process wins, and a room whose owner is dead
(or unreachable) is taken over the same way. Synchronous, short calls (run in a thread).
"""

from __future__ import annotations

import os
import socket

from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from ...protocol.routes import INVITE, LINK, RESUME
from ..db.clock import now_sql
from ..db.schema import host_invites, links, room_owners, server_processes, sessions

__all__ = ["Owners"]

#: Route keys a socket's URL may carry (``?resume=``, ``?invite=``, ``?link=``: the sha256
#: of the token the socket will use), and the column each is looked up by.
ROUTES = {
    RESUME: (sessions.c.resume_token_hash, sessions.c.id),
    INVITE: (host_invites.c.token_hash, host_invites.c.session_id),
    LINK: (links.c.token_hash, links.c.session_id),
}


class Owners:
    """This process's view of the others and of the rooms' owners."""

    def __init__(
        self, engine: Engine, process_id: str, ttl: float, beats: Engine | None = None
    ) -> None:
        self.engine, self.me, self.ttl = engine, process_id, ttl
        self.beats = beats or engine
        """The engine of :meth:`beat` and :meth:`mine` (one of their own on a server)."""

    # -- processes --------------------------------------------------------------------------
    def beat(self) -> set[str]:
        """Record that this process is alive (registering it if its row is gone); the ids
        of every live process."""
        with self.beats.begin() as db:
            now = now_sql(db)
            done = db.execute(
                update(server_processes)
                .where(server_processes.c.id == self.me)
                .values(heartbeat_at=now)
            )
            if done.rowcount == 0:
                db.execute(
                    insert(server_processes).values(
                        id=self.me,
                        host=socket.gethostname()[:255],
                        pid=os.getpid(),
                        started_at=now,
                        heartbeat_at=now,
                    )
                )
            alive = db.execute(
                select(server_processes.c.id).where(
                    server_processes.c.heartbeat_at > now - self.ttl
                )
            )
            return {row[0] for row in alive}

    def leave(self) -> None:
        """This process stops: its rooms and its row go (others take its sessions at once)."""
        with self.engine.begin() as db:
            db.execute(delete(room_owners).where(room_owners.c.process_id == self.me))
            db.execute(delete(server_processes).where(server_processes.c.id == self.me))

    def forget_dead(self, older_than: float) -> None:
        """Delete the rows of processes dead for ``older_than`` seconds (their rooms' rows
        stay until taken over or their session's row goes)."""
        with self.engine.begin() as db:
            db.execute(
                delete(server_processes).where(
                    server_processes.c.heartbeat_at < now_sql(db) - older_than
                )
            )

    # -- rooms ------------------------------------------------------------------------------
    def session_of(self, route: str, key: str) -> str | None:
        """The session a socket's route key names (None: none, or not made yet)."""
        column, session_id = ROUTES[route]
        with self.engine.connect() as db:
            found = db.execute(select(session_id).where(column == key)).scalar()
            return str(found) if found else None

    def owner_of(self, session_id: str) -> str | None:
        """The live process that holds the session's room (None: no live one does)."""
        with self.engine.connect() as db:
            found = db.execute(
                select(room_owners.c.process_id)
                .join(server_processes, server_processes.c.id == room_owners.c.process_id)
                .where(
                    room_owners.c.session_id == session_id,
                    server_processes.c.heartbeat_at > now_sql(db) - self.ttl,
                )
            ).scalar()
            return str(found) if found else None

    def take(self, session_id: str, unreachable: frozenset[str] = frozenset()) -> str:
        """Hold the session's room if no live process holds it (or one in ``unreachable``
        does): the owner after the call (this process's id if it holds it now)."""
        for _ in range(5):
            with self.engine.begin() as db:
                owner = self._take(db, session_id, unreachable)
            if owner is not None:
                return owner
        raise RuntimeError(f"could not settle the owner of session {session_id}")

    def _take(self, db: Connection, session_id: str, unreachable: frozenset[str]) -> str | None:
        now = now_sql(db)
        held = db.execute(
            select(room_owners.c.process_id).where(room_owners.c.session_id == session_id)
        ).scalar()
        if held is None:
            try:
                with db.begin_nested():
                    db.execute(
                        insert(room_owners).values(
                            session_id=session_id, process_id=self.me, since=now
                        )
                    )
            except IntegrityError:
                return None  # another process took it (or the session is gone): look again
            return self.me
        if held == self.me:
            return self.me
        alive = db.execute(
            select(server_processes.c.id).where(
                server_processes.c.id == held, server_processes.c.heartbeat_at > now - self.ttl
            )
        ).scalar()
        if alive is not None and held not in unreachable:
            return str(held)
        taken = db.execute(
            update(room_owners)
            .where(and_(room_owners.c.session_id == session_id, room_owners.c.process_id == held))
            .values(process_id=self.me, since=now)
        )
        return self.me if taken.rowcount == 1 else None

    def release(self, session_id: str) -> None:
        """This process no longer holds the session's room."""
        with self.engine.begin() as db:
            db.execute(
                delete(room_owners).where(
                    room_owners.c.session_id == session_id, room_owners.c.process_id == self.me
                )
            )

    def mine(self) -> set[str]:
        """The sessions whose rooms the database says this process holds."""
        with self.beats.connect() as db:
            rows = db.execute(
                select(room_owners.c.session_id).where(room_owners.c.process_id == self.me)
            )
            return {row[0] for row in rows}
