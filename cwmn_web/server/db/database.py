"""The server's one database: :class:`Store`, the per-concept stores on one engine."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .engine import Pool, open_engine
from .guests import GuestStore
from .host_invites import HostInviteStore
from .host_keys import HostKeyStore
from .invites import InviteStore
from .join_codes import JoinCodeStore
from .links import LinkStore
from .locks import schema_lock
from .messages import KeptMessageStore
from .migrate import upgrade
from .page_assets import PageAssetStore
from .replays import ReplayStore
from .sessions import SessionStore
from .sites import SiteStore

if TYPE_CHECKING:
    from ..config import Settings

__all__ = ["Store"]


class Store(
    SiteStore,
    SessionStore,
    LinkStore,
    JoinCodeStore,
    GuestStore,
    InviteStore,
    KeptMessageStore,
    HostInviteStore,
    HostKeyStore,
):
    """Every database access of the server (synchronous, short calls): the methods of each
    concept's store, the replays' as :attr:`replays`, the page assets' as
    :attr:`page_assets`."""

    def __init__(self, url: str, pool: Pool | None = None) -> None:
        super().__init__(open_engine(url, pool))
        self.replays = ReplayStore(self.engine)
        self.page_assets = PageAssetStore(self.engine)

    @classmethod
    def of(cls, settings: Settings) -> Store:
        """The store of ``settings``' database, its pool sized by them."""
        pool = Pool(settings.db_pool_size, settings.db_max_overflow, settings.db_pool_timeout)
        return cls(settings.db_url, pool)

    def create(self) -> None:
        """Apply the missing migrations (:mod:`.migrate`: an empty database, or one an
        older version made, comes to the newest schema), add the default site if there is
        none, and hash the video tokens an older version stored plain. Processes starting at
        once take turns (:func:`.locks.schema_lock`)."""
        upgrade(self.engine)
        with schema_lock(self.engine):
            self.add_default_site()
            self.replays.hash_plain_video_tokens()
