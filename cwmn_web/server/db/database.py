"""The server's one database: :class:`Store`, the per-concept stores on one engine."""

from __future__ import annotations

from .engine import open_engine
from .guests import GuestStore
from .host_invites import HostInviteStore
from .invites import InviteStore
from .links import LinkStore
from .messages import KeptMessageStore
from .replays import ReplayStore
from .schema import metadata
from .sessions import SessionStore
from .sites import SiteStore

__all__ = ["Store"]


class Store(
    SiteStore,
    SessionStore,
    LinkStore,
    GuestStore,
    InviteStore,
    KeptMessageStore,
    HostInviteStore,
):
    """Every database access of the server (synchronous, short calls): the methods of each
    concept's store, and the replays' as :attr:`replays`."""

    def __init__(self, url: str) -> None:
        super().__init__(open_engine(url))
        self.replays = ReplayStore(self.engine)

    def create(self) -> None:
        """Create the missing tables (there are no migrations) and the default site."""
        metadata.create_all(self.engine)
        self.add_default_site()
