"""A server started as an operator starts it (a command in a child process): wait until it
answers, read its worker processes, stop it."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

__all__ = ["STOPPED", "answering", "children", "command_line", "stop"]

#: The exit statuses of a server that shut down cleanly on SIGTERM: uvicorn re-raises the
#: signal after its shutdown (a single process); its supervisor exits 0 (``--workers``).
STOPPED = (0, -signal.SIGTERM)


def answering(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30) -> None:
    """Poll ``url`` until it answers; raise with the end of ``log`` if ``proc`` exits or
    ``timeout`` seconds pass first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"exited {proc.returncode}: {log.read_text()[-3000:]}")
        with contextlib.suppress(OSError):
            urllib.request.urlopen(url, timeout=1).read()
            return
        time.sleep(0.05)  # polling for the condition, with a deadline
    raise AssertionError(f"{url} did not answer in {timeout:g} s: {log.read_text()[-3000:]}")


def children(pid: int) -> list[int]:
    """The processes ``pid`` started that are still running (Linux)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def command_line(pid: int) -> str:
    """Process ``pid``'s command line, its arguments joined by spaces ("" once it is gone)."""
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    return ""


def stop(proc: subprocess.Popen[bytes], timeout: float = 15) -> int:
    """SIGTERM ``proc`` (as systemd stops a service), then its exit status; killed if it
    does not exit in ``timeout`` seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode
