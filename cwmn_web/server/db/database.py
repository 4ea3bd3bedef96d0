"""The server's one database: :class:`Store`, the per-concept stores on one engine."""

from __future__ import annotations

from .columns import add_missing_columns
from .engine import open_engine
from .guests import GuestStore
from .host_invites import HostInviteStore
from .host_keys import HostKeyStore
from .invites import InviteStore
from .links import LinkStore
from .messages import KeptMessageStore
from .page_assets import PageAssetStore
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
    HostKeyStore,
):
    """Every database access of the server (synchronous, short calls): the methods of each
    concept's store, the replays' as :attr:`replays`, the page assets' as
    :attr:`page_assets`."""

    def __init__(self, url: str) -> None:
        super().__init__(open_engine(url))
        self.replays = ReplayStore(self.engine)
        self.page_assets = PageAssetStore(self.engine)

    def create(self) -> None:
        """Create the missing tables, add the columns a newer version added to tables an
        older one made (:mod:`.columns`), and the default site."""
        metadata.create_all(self.engine)
        add_missing_columns(self.engine, metadata)
        self.add_default_site()
        self.replays.hash_plain_video_tokens()
