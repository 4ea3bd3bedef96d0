"""The keys sites sign host tokens with (``site_host_keys``), and whether a site requires
host tokens (``sites.host_tokens``). Secrets never leave the server but for the CLI."""

from __future__ import annotations

import secrets

from sqlalchemy import select, update

from ..host_tokens import check_secret, new_secret
from .engine import EngineStore, stamp
from .schema import site_host_keys, sites

__all__ = ["HostKeyStore"]


class HostKeyStore(EngineStore):
    def _site_id(self, site_name: str) -> int:
        with self.engine.connect() as db:
            row = db.execute(select(sites.c.id).where(sites.c.name == site_name)).first()
        if row is None:
            raise KeyError(f"no site named {site_name!r}")
        return int(row[0])

    def require_host_tokens(self, site_name: str, required: bool = True) -> None:
        """Hosts of the site must (or no longer must) present a host token."""
        site_id = self._site_id(site_name)
        with self.engine.begin() as db:
            db.execute(update(sites).where(sites.c.id == site_id).values(host_tokens=required))

    def add_host_key(
        self, site_name: str, secret: str | None = None, kid: str = "", now: float | None = None
    ) -> tuple[str, str]:
        """Add a signing key (``secret``, or a new one) as ``kid`` (or a new key id); returns
        (key id, secret). ValueError for a short secret or a key id the site has."""
        site_id = self._site_id(site_name)
        secret = check_secret(secret) if secret else new_secret()
        kid = kid or secrets.token_hex(4)
        if not 0 < len(kid) <= 64:
            raise ValueError("a key id has 1 to 64 characters")
        if kid in self.host_keys(site_id):
            raise ValueError(f"site {site_name!r} already has a key {kid!r}")
        with self.engine.begin() as db:
            db.execute(
                site_host_keys.insert().values(
                    site_id=site_id, kid=kid, secret=secret, created_at=stamp(now)
                )
            )
        return kid, secret

    def remove_host_key(self, site_name: str, kid: str) -> bool:
        site_id = self._site_id(site_name)
        with self.engine.begin() as db:
            query = site_host_keys.delete().where(
                site_host_keys.c.site_id == site_id, site_host_keys.c.kid == kid
            )
            return db.execute(query).rowcount > 0

    def host_key_ids(self, site_name: str) -> list[tuple[str, float]]:
        """The site's key ids and when each was added, oldest first."""
        site_id = self._site_id(site_name)
        query = (
            select(site_host_keys.c.kid, site_host_keys.c.created_at)
            .where(site_host_keys.c.site_id == site_id)
            .order_by(site_host_keys.c.created_at)
        )
        with self.engine.connect() as db:
            return [(str(row.kid), float(row.created_at)) for row in db.execute(query).all()]

    def host_keys(self, site_id: int) -> dict[str, str]:
        """Key id → secret, what a host token is checked with."""
        query = select(site_host_keys.c.kid, site_host_keys.c.secret).where(
            site_host_keys.c.site_id == site_id
        )
        with self.engine.connect() as db:
            return {str(kid): str(secret) for kid, secret in db.execute(query).all()}
