"""Who may talk to ``serve``: a Host allow-list against DNS rebinding, and authentication.

A web page on any site can make the browser send requests to ``127.0.0.1:8080``; the browser's
same-origin rule only stops it reading the answers until that site's name is re-pointed at
127.0.0.1 (DNS rebinding). The request then still names the attacker's host in its ``Host``
header, so every request whose Host is not on :attr:`Access.hosts` (loopback names by default,
any port) is answered 421 with a JSON error before it reaches the app.

Beyond loopback, requests must also be authenticated, by one of:

* a token (``FLOWSCOPE_TOKEN`` or ``--token-file``): ``Authorization: Bearer TOKEN``, or, for
  the browser, opening any page once with ``?token=TOKEN``, which answers a redirect to the same
  address without it and sets an HttpOnly, SameSite=Strict cookie holding a value derived from
  the token (never the token itself);
* a header set by a reverse proxy that authenticates users (``--trust-proxy-header
  X-Forwarded-User``, as Datasette and Akvorado deployments do): a request carrying it,
  non-empty, is let in. The proxy must set or strip it on every request.

Tokens are compared with :func:`hmac.compare_digest` and never logged. Failures are 401 with a
JSON error body and ``WWW-Authenticate: Bearer``.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from flowscope.errors import UsageError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
COOKIE = "flowscope_session"
MIN_TOKEN_LENGTH = 16


def is_loopback(host: str) -> bool:
    """Whether a listen address (or Host name) stays on this machine."""
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def host_name(header: str) -> str | None:
    """The name in a Host header, lower-case, without the port; None when malformed."""
    value = header.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        if end < 0 or (value[end + 1 :] and not _port(value[end + 1 :])):
            return None
        return value[1:end]
    name, colon, port = value.partition(":")
    if not name or (colon and not _port(":" + port)):
        return None
    return name.rstrip(".")


def _port(text: str) -> bool:
    return text.startswith(":") and text[1:].isascii() and text[1:].isdigit()


@dataclass(frozen=True)
class Access:
    """What ``serve`` lets in. The default: loopback Host names, no authentication."""

    hosts: tuple[str, ...] = LOOPBACK_HOSTS
    token: str | None = field(default=None, repr=False)
    proxy_header: str | None = None

    @property
    def authenticates(self) -> bool:
        return bool(self.token or self.proxy_header)

    @property
    def session(self) -> str:
        """The cookie value a browser gets for the token: an HMAC of it, not the token."""
        assert self.token is not None
        return hmac.new(self.token.encode(), b"flowscope session", hashlib.sha256).hexdigest()

    def allows_host(self, header: str | None) -> bool:
        name = host_name(header) if header else None
        return name is not None and ("*" in self.hosts or name in self.hosts)


def access_for(
    listen: str,
    *,
    allow_hosts: Iterable[str] = (),
    token: str | None = None,
    token_file: Path | None = None,
    proxy_header: str | None = None,
) -> Access:
    """The policy for ``serve --host listen``, from its options; a UsageError when it is unsafe.

    The listen address itself is allowed as a Host (unless it is a wildcard), so
    ``--host 192.0.2.7`` answers ``http://192.0.2.7:8080/`` without a ``--allow-host``.
    """
    if token_file is not None:
        try:
            token = token_file.read_text().strip()
        except OSError as e:
            raise UsageError(f"--token-file {token_file}: {e.strerror or e}") from None
    if token is not None:
        token = token.strip()
        if len(token) < MIN_TOKEN_LENGTH or not token.isascii() or not token.isprintable():
            raise UsageError(
                f"the token must be at least {MIN_TOKEN_LENGTH} printable ASCII characters",
                hint="make one with: openssl rand -hex 32",
            )
    proxy_header = (proxy_header or "").strip() or None
    if not is_loopback(listen) and not (token or proxy_header):
        raise UsageError(
            f"serve --host {listen} answers beyond this machine, so it needs authentication",
            hint="set FLOWSCOPE_TOKEN or --token-file FILE, or --trust-proxy-header HEADER "
            "behind a proxy that authenticates",
        )
    hosts = list(LOOPBACK_HOSTS)
    listen_name = listen.strip("[]").lower()
    if listen_name not in ("0.0.0.0", "::", ""):
        hosts.append(listen_name)
    for h in allow_hosts:
        for name in h.replace(",", " ").split():
            parsed = "*" if name == "*" else host_name(name)
            if parsed is None:
                raise UsageError(f"--allow-host {name!r} is not a host name")
            hosts.append(parsed)
    return Access(tuple(dict.fromkeys(hosts)), token or None, proxy_header)


class AccessMiddleware:
    """The ASGI middleware enforcing an :class:`Access` policy on every HTTP request."""

    def __init__(self, app: App, access: Access) -> None:
        self.app = app
        self.access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":  # flowscope has none: refuse them all
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        access = self.access
        if not access.allows_host(headers.get("host")):
            name = (headers.get("host") or "")[:100]
            await _reply(
                send,
                421,
                "HostNotAllowed",
                f"this server does not answer for host {name!r}",
                "start serve with --allow-host NAME (or FLOWSCOPE_ALLOW_HOSTS) to allow it",
            )
            return
        if not access.authenticates:
            await self.app(scope, receive, send)
            return
        if access.proxy_header and headers.get(access.proxy_header.lower(), "").strip():
            await self.app(scope, receive, send)
            return
        if access.token:
            query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
            offered = query.get("token")
            if offered is not None:
                await self._log_in(scope, send, offered)
                return
            if self._token_ok(headers):
                await self.app(scope, receive, send)
                return
        await _reply(
            send,
            401,
            "AuthenticationRequired",
            "this server needs authentication",
            _login_hint(access),
            {"www-authenticate": 'Bearer realm="flowscope"'},
        )

    def _token_ok(self, headers: dict[str, str]) -> bool:
        token = self.access.token
        assert token is not None
        scheme, _, value = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and _same(value.strip(), token):
            return True
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:  # a malformed Cookie header is no cookie
            return False
        morsel = cookie.get(COOKIE)
        return morsel is not None and _same(morsel.value, self.access.session)

    async def _log_in(self, scope: Scope, send: Send, offered: str) -> None:
        """``?token=``: a cookie for the browser and the same address without the token."""
        if not _same(offered, self.access.token or ""):
            await _reply(send, 401, "AuthenticationFailed", "wrong token", _login_hint(self.access))
            return
        rest = [
            (k, v)
            for k, v in parse_qsl(scope.get("query_string", b"").decode("latin-1"), True)
            if k != "token"
        ]
        raw = scope.get("raw_path") or scope["path"].encode()
        # one leading slash: '//evil.example/' would send the browser to another site
        location = b"/" + raw.lstrip(b"/") + (b"?" + urlencode(rest).encode() if rest else b"")
        cookie = f"{COOKIE}={self.access.session}; Path=/; HttpOnly; SameSite=Strict"
        if scope.get("scheme") == "https":
            cookie += "; Secure"
        await send(
            {
                "type": "http.response.start",
                "status": 303,
                "headers": [
                    (b"location", location),
                    (b"set-cookie", cookie.encode()),
                    (b"cache-control", b"no-store"),
                    (b"content-length", b"0"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})


def _same(offered: str, expected: str) -> bool:
    return hmac.compare_digest(offered.encode("utf-8", "replace"), expected.encode())


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _login_hint(access: Access) -> str:
    ways = []
    if access.token:
        ways.append("send 'Authorization: Bearer TOKEN', or open the page once with ?token=TOKEN")
    if access.proxy_header:
        ways.append(f"come through the proxy that sets {access.proxy_header}")
    return "; or ".join(ways)


async def _reply(
    send: Send,
    status: int,
    kind: str,
    message: str,
    hint: str | None,
    extra: dict[str, str] | None = None,
) -> None:
    body = json.dumps(
        {
            "ok": False,
            "error": {"type": kind, "message": message, "position": None, "hint": hint},
            "took_ms": 0,
        }
    ).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        *((k.encode(), v.encode()) for k, v in (extra or {}).items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
