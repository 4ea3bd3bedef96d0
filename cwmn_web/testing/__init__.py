"""Test helpers for sites embedding cwmn_web: a real server, a customer-page server, browsers,
host and guest pages; the pytest plugin (fixtures ``host``, ``guest``…) is :mod:`.plugin`."""

from .browsers import launch_args
from .pages import CwmnCallError, CwmnGuest, CwmnHost
from .servers import CwmnServer, PageServer, free_port

__all__ = [
    "CwmnCallError",
    "CwmnGuest",
    "CwmnHost",
    "CwmnServer",
    "PageServer",
    "free_port",
    "launch_args",
]
