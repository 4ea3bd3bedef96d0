"""Who asks the server to send (an invite, an invitation to host, a video link): the
client's address and, on a site that requires host tokens, the host's verified identity."""

from __future__ import annotations

import json
from dataclasses import dataclass

from ..host_tokens import HostIdentity

__all__ = ["NO_SENDER", "Sender"]


@dataclass(frozen=True)
class Sender:
    client: str = ""
    """The socket's peer address (as uvicorn gives it: proxies only if trusted)."""
    host: HostIdentity | None = None
    """The identity a host token vouched for (None on a site without host tokens)."""

    @property
    def limited_by_address(self) -> bool:
        """Does the per-client-address limit apply? On open sites (and for a token without
        ``sub``): anyone can claim to be a host there, so one client address must not spend
        every host's budget. On token sites the per-host limit counts the ``sub`` instead."""
        return self.subject is None and bool(self.client)

    @property
    def subject(self) -> str | None:
        """The token's ``sub`` whose budget the per-host limit counts (on token sites); None
        without a token or a ``sub`` (then the client address's budget applies)."""
        return self.host.subject[:256] if self.host is not None and self.host.subject else None

    def record(self) -> dict[str, str | None]:
        """The invite row's ``host_identity`` (JSON), ``host_subject`` and
        ``client_address``."""
        identity = json.dumps(self.host.as_dict()) if self.host is not None else None
        return {
            "host_identity": identity,
            "host_subject": self.subject,
            "client_address": self.client[:64] or None,
        }


#: A sender the server knows nothing about (no client address, no host token).
NO_SENDER = Sender()
