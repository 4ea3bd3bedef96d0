"""Test helpers for sites embedding cwmn_web: a real server, a customer-page server, browsers."""

from .browsers import launch_args
from .servers import CwmnServer, PageServer, free_port

__all__ = ["CwmnServer", "PageServer", "free_port", "launch_args"]
