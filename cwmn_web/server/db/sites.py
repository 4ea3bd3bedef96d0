"""Sites and the domains that authorize them (``sites``, ``site_domains``)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select, update

from ..config import DEFAULT_DOMAINS
from ..sites import Site, domain_matches, normalise_domain
from .engine import EngineStore, inserted_id
from .schema import domains, sites

__all__ = ["SiteStore"]


class SiteStore(EngineStore):
    def add_default_site(self) -> None:
        """The ``default`` site, authorizing localhost, if there is no site yet."""
        with self.engine.begin() as db:
            if db.execute(select(sites.c.id).limit(1)).first() is None:
                site_id = inserted_id(
                    db.execute(sites.insert().values(name="default", settings="{}"))
                )
                for domain in DEFAULT_DOMAINS:
                    db.execute(domains.insert().values(domain=domain, site_id=site_id))

    def add_domain(self, domain: str, site_name: str = "default") -> Site:
        """Authorize ``domain`` for the site (made if missing); ValueError if another site
        has it."""
        domain = normalise_domain(domain)
        with self.engine.begin() as db:
            row = db.execute(select(sites.c.id).where(sites.c.name == site_name)).first()
            site_id = (
                row[0]
                if row
                else inserted_id(db.execute(sites.insert().values(name=site_name, settings="{}")))
            )
            exists = db.execute(select(domains.c.site_id).where(domains.c.domain == domain)).first()
            if exists is None:
                db.execute(domains.insert().values(domain=domain, site_id=site_id))
            elif exists[0] != site_id:
                raise ValueError(f"{domain} already belongs to another site")
        return self._site_named(site_name)

    def remove_domain(self, domain: str) -> bool:
        with self.engine.begin() as db:
            query = domains.delete().where(domains.c.domain == normalise_domain(domain))
            return db.execute(query).rowcount > 0

    def list_sites(self) -> list[Site]:
        with self.engine.connect() as db:
            rows = db.execute(select(sites)).all()
            pairs = db.execute(select(domains.c.domain, domains.c.site_id)).all()
        return [
            Site(
                r.id,
                r.name,
                tuple(sorted(str(d) for d, s in pairs if s == r.id)),
                json.loads(r.settings),
                bool(r.host_tokens),
            )
            for r in rows
        ]

    def update_settings(self, site_name: str, changes: dict[str, Any]) -> Site:
        """Merge ``changes`` into the site's settings (what ``getDomainInfo()`` reports);
        KeyError if there is no such site."""
        site = self.site_by_name(site_name)
        if site is None:
            raise KeyError(f"no site named {site_name!r}")
        merged = {**site.settings, **changes}
        with self.engine.begin() as db:
            db.execute(
                update(sites).where(sites.c.name == site_name).values(settings=json.dumps(merged))
            )
        return self._site_named(site_name)

    def site_by_id(self, site_id: int) -> Site | None:
        return next((s for s in self.list_sites() if s.id == site_id), None)

    def site_by_name(self, name: str) -> Site | None:
        return next((s for s in self.list_sites() if s.name == name), None)

    def site_for_host(self, hostname: str) -> Site | None:
        """The site authorizing ``hostname`` (any port), or None."""
        hostname = hostname.lower().rstrip(".")
        for site in self.list_sites():
            if any(domain_matches(d, hostname) for d in site.domains):
                return site
        return None

    def _site_named(self, name: str) -> Site:
        site = self.site_by_name(name)
        if site is None:
            raise RuntimeError(f"site {name!r} was not stored")
        return site
