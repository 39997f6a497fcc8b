"""Real local receivers for alert and metrics tests: an SMTP server (aiosmtpd) and a StatsD UDP listener.

Both listen on 127.0.0.1 only.  (The HTTP receiver is ``tests.support.http_recorder``.)
"""

from __future__ import annotations

import email
import email.policy
import socket
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, Self

from tests.support.net import LOOPBACK, free_port


@dataclass(frozen=True)
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    login: str | None

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    @property
    def html(self) -> str:
        part = self.message.get_body(preferencelist=("html", "plain"))
        assert part is not None
        return str(part.get_content())


class SmtpRecorder:
    """aiosmtpd on 127.0.0.1 recording every message; with ``users``, AUTH is offered (over plain SMTP).

    ``.port`` is set after start; ``.messages`` holds :class:`ReceivedMail`; ``.logins`` every
    successful AUTH login name.
    """

    def __init__(self, users: dict[str, str] | None = None) -> None:
        self.users = dict(users or {})
        self.messages: list[ReceivedMail] = []
        self.logins: list[str] = []
        self.port = 0
        self._controller: Any = None
        self._lock = threading.Lock()

    def start(self) -> Self:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword

        recorder = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                login = session.auth_data.decode() if isinstance(session.auth_data, bytes) else None
                with recorder._lock:
                    recorder.messages.append(
                        ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content), login)
                    )
                return "250 Message accepted for delivery"

        def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> Any:
            if not isinstance(auth_data, LoginPassword):
                return AuthResult(success=False, handled=False)
            login, password = auth_data.login.decode(), auth_data.password.decode()
            ok = self.users.get(login) == password
            if ok:
                with self._lock:
                    self.logins.append(login)
            # handled=False on failure: aiosmtpd answers "535 authentication failed" itself
            return AuthResult(success=ok, handled=ok, auth_data=login.encode() if ok else None)

        self.port = free_port()
        kwargs: dict[str, Any] = {}
        if self.users:
            # AUTH offered over plain SMTP (no TLS here); each message records the login that sent it
            kwargs = {"authenticator": authenticator, "auth_require_tls": False}
        self._controller = Controller(Handler(), hostname=LOOPBACK, port=self.port, **kwargs)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class UdpRecorder:
    """A StatsD-style UDP listener on 127.0.0.1: every datagram's lines, parsed by :meth:`metrics`."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.port = 0
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def start(self) -> Self:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((LOOPBACK, 0))
        self._sock.settimeout(0.05)
        self.port = int(self._sock.getsockname()[1])

        def receive() -> None:
            assert self._sock is not None
            while not self._stop.is_set():
                try:
                    data = self._sock.recv(65535)
                except TimeoutError:
                    continue
                except OSError:
                    return
                with self._lock:
                    self.lines += data.decode("utf-8", "replace").splitlines()

        self._thread = threading.Thread(target=receive, name="udp-recorder", daemon=True)
        self._thread.start()
        return self

    def wait_for(self, predicate: Any, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not predicate():
            time.sleep(0.02)

    def metrics(self, prefix: str = "") -> dict[str, list[tuple[float, str]]]:
        """``name -> [(value, type), ...]`` for every StatsD line whose name starts with ``prefix``."""
        found: dict[str, list[tuple[float, str]]] = {}
        with self._lock:
            lines = list(self.lines)
        for line in lines:
            name, _, rest = line.partition(":")
            if not name.startswith(prefix) or not rest:
                continue
            value, _, kind = rest.partition("|")
            found.setdefault(name, []).append((float(value), kind.split("|")[0]))
        return found

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self._sock is not None:
            self._sock.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
