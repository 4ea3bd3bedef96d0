"""Page-asset uploads on a real served server (``cwmn-web serve``, its request deadline
``CWMN_HTTP_TIMEOUT``): a body arriving steadily outlives the deadline, a trickle does not."""

from __future__ import annotations

import hashlib
import select
import socket
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest

from cwmn_web.protocol.messages import Hello, SessionStarted, StartSession, Welcome
from cwmn_web.protocol.page_assets import url_key
from tests.helpers.served import Served, served

from .test_served_limits import ORIGIN, ask, ws_host

pytestmark = pytest.mark.timeout(120)
IMAGE = ORIGIN + "/private/big.png"


def upload_path(server: Served, data: bytes) -> str:
    """The path to POST ``data`` to, in a new session on ``server``."""
    with ws_host(server.ws) as ws:
        assert isinstance(ask(ws, Hello(ref=1, page_url=ORIGIN + "/")), Welcome)
        started = ask(ws, StartSession(ref=2, host_name="Ann"))
        assert isinstance(started, SessionStarted), started
    query = urlencode({"key": url_key(IMAGE), "kind": "file", "url": IMAGE})
    digest = hashlib.sha256(data).hexdigest()
    return f"{urlsplit(started.assets['upload']).path}/{digest}?{query}"


def paced_upload(server: Served, data: bytes, piece: int, every: float) -> tuple[bytes, float]:
    """POST ``data`` ``piece`` bytes every ``every`` seconds: what the server answered (b""
    if it closed the connection) and when."""
    path = upload_path(server, data)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        f"Content-Type: text/plain\r\nContent-Length: {len(data)}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        begun = time.monotonic()
        sock.sendall(head.encode())
        for start in range(0, len(data), piece):
            ready, _, _ = select.select([sock], [], [], every)  # the client's pace
            if ready:
                break  # the server answered (or closed) early
            try:
                sock.sendall(data[start : start + piece])
            except OSError:
                break
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
                if b"}" in answer:
                    break
        except OSError:
            pass
        return answer, time.monotonic() - begun


def test_a_steady_upload_outlives_the_request_deadline(tmp_path: Path, live_static: Path) -> None:
    data = b"\x89PNG\r\n\x1a\n" + bytes(300 * 1024)
    with served(tmp_path, live_static, HTTP_TIMEOUT="1") as server:
        answer, took = paced_upload(server, data, piece=32 * 1024, every=0.2)
    assert took > 1.5, took  # past the deadline, yet:
    assert answer.startswith(b"HTTP/1.1 200") and b'{"stored":true}' in answer, answer[:300]


def test_a_trickling_upload_is_closed_in_time(tmp_path: Path, live_static: Path) -> None:
    data = b"\x89PNG\r\n\x1a\n" + bytes(64 * 1024)
    with served(tmp_path, live_static, HTTP_TIMEOUT="1") as server:
        answer, took = paced_upload(server, data, piece=512, every=0.1)
    assert answer == b"" and took < 5.0, (answer[:200], took)
