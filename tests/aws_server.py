"""moto in server mode on 127.0.0.1 for the AWS tests, with request counting and faults.

The server is moto's own WSGI application (what ``ThreadedMotoServer`` and ``moto_server``
run) behind a small middleware, so tests that run the real CLI in a subprocess can:

- see every AWS request the CLI made (service, action, S3 prefix or key, log stream and
  startTime):
  ``GET /_flowscope/requests``;
- make AWS fail the way it does: ``POST /_flowscope/faults`` with a list of
  ``{"action": "GetLogEvents", "code": "ThrottlingException", "status": 400, "times": 3}``
  (optional ``"match"``: a substring of the key/prefix/stream; ``"delay"``: seconds to wait
  before answering, with or without an error; ``"truncate"``: send half the body, then close);
- start over: ``POST /_flowscope/reset`` clears the request log and the faults. moto's state
  is kept (resetting it makes the next EC2 call rebuild its backend, seconds of work), so
  each test uses names of its own.

Errors are rendered in each protocol's shape (JSON for CloudWatch Logs, XML for S3 and EC2),
so botocore parses and retries them exactly as it would AWS's.
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote

import boto3
import requests
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server

_SCOPE = re.compile(r"Credential=[^/]+/\d+/[^/]+/([^/]+)/")
Environ = dict[str, Any]
StartResponse = Callable[..., Any]


class _QuietHandler(MotoRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


class Middleware:
    """Counts requests and injects faults in front of moto's WSGI app."""

    def __init__(self, app: Callable[[Environ, StartResponse], Iterable[bytes]]) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.log: list[dict[str, str]] = []
        self.faults: list[dict[str, Any]] = []

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_flowscope/"):
            return self._control(path, environ, start_response)
        req = self._describe(environ)
        with self.lock:
            self.log.append(req)
            fault = self._fault(req)
        if fault and fault.get("delay"):
            time.sleep(float(fault["delay"]))
        if fault and fault.get("code"):
            return self._error(req, fault, start_response)
        body = self.app(environ, start_response)
        if fault and fault.get("truncate"):
            data = b"".join(body)
            return [data[: len(data) // 2]]
        return body

    def _fault(self, req: dict[str, str]) -> dict[str, Any] | None:
        for f in self.faults:
            if f["action"] != req["action"] or f.get("times", 1) <= 0:
                continue
            if f.get("match") and f["match"] not in req.get("what", ""):
                continue
            if f.get("skip", 0) > 0:
                f["skip"] -= 1
                continue
            f["times"] = f.get("times", 1) - 1
            return dict(f)
        return None

    def _describe(self, environ: Environ) -> dict[str, str]:
        """service, action and what (S3 key/prefix, log stream) of one request."""
        auth = environ.get("HTTP_AUTHORIZATION", "")
        m = _SCOPE.search(auth)
        service = m.group(1) if m else "?"
        method = environ.get("REQUEST_METHOD", "GET")
        path = unquote(environ.get("PATH_INFO", ""))
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        body = b""
        if method == "POST" and not path.strip("/"):
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        if target:
            action = target.rsplit(".", 1)[-1]
            try:
                payload = json.loads(body or b"{}")
            except ValueError:
                payload = {}
            what = str(payload.get("logStreamName", payload.get("logStreamNamePrefix", "")))
            req = {"service": service, "action": action, "what": what}
            if "startTime" in payload:
                req["start"] = str(payload["startTime"])
            return req
        if service == "s3":
            parts = path.lstrip("/").split("/", 1)
            key = parts[1] if len(parts) > 1 else ""
            if method == "GET" and not key and "list-type" in query:
                return {
                    "service": "s3",
                    "action": "ListObjectsV2",
                    "what": query.get("prefix", [""])[0],
                    "delimiter": query.get("delimiter", [""])[0],
                }
            action = {"GET": "GetObject", "PUT": "PutObject", "HEAD": "HeadObject"}.get(
                method, method
            )
            if not key:
                action = f"{method}Bucket"
            return {"service": "s3", "action": action, "what": key}
        form = parse_qs(body.decode(errors="replace"))
        return {"service": service, "action": form.get("Action", ["?"])[0], "what": ""}

    def _error(
        self, req: dict[str, str], fault: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        code, status = fault["code"], int(fault.get("status", 400))
        message = fault.get("message", f"injected {code}")
        reason = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 503: "Slow Down"}
        if req["service"] == "logs":
            body = json.dumps({"__type": code, "message": message}).encode()
            ctype = "application/x-amz-json-1.1"
        elif req["service"] == "s3":
            body = (
                f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
                f"<Message>{message}</Message><RequestId>1</RequestId></Error>"
            ).encode()
            ctype = "application/xml"
        else:
            body = (
                f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message>"
                "</Error></Errors><RequestID>1</RequestID></Response>"
            ).encode()
            ctype = "text/xml"
        start_response(
            f"{status} {reason.get(status, 'Error')}",
            [
                ("Content-Type", ctype),
                ("Content-Length", str(len(body))),
                ("x-amzn-RequestId", "1"),
            ],
        )
        return [body]

    def _control(
        self, path: str, environ: Environ, start_response: StartResponse
    ) -> Iterable[bytes]:
        result: Any = {"ok": True}
        with self.lock:
            if path == "/_flowscope/requests":
                result = list(self.log)
            elif path == "/_flowscope/faults":
                length = int(environ.get("CONTENT_LENGTH") or 0)
                self.faults = json.loads(environ["wsgi.input"].read(length) or b"[]")
            elif path == "/_flowscope/reset":
                self.log, self.faults = [], []
        body = json.dumps(result).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]


@dataclass
class MotoServer:
    """A running server: its URL, the environment for boto3/the CLI, and test controls."""

    url: str
    server: BaseWSGIServer
    thread: threading.Thread

    @classmethod
    def start(cls) -> MotoServer:
        app = Middleware(DomainDispatcherApplication(create_backend_app))
        server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler)
        thread = threading.Thread(target=server.serve_forever, name="moto", daemon=True)
        thread.start()
        host, port = server.server_address[:2]
        return cls(f"http://{host}:{port}", server, thread)

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(10)

    @property
    def env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing-secret-do-not-print",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        }

    def client(self, service: str) -> Any:
        env = self.env
        return boto3.client(  # type: ignore[call-overload]
            service,
            endpoint_url=self.url,
            region_name=env["AWS_DEFAULT_REGION"],
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        )

    def reset(self) -> None:
        requests.post(f"{self.url}/_flowscope/reset", timeout=10).raise_for_status()

    def requests(self, action: str | None = None) -> list[dict[str, str]]:
        got = requests.get(f"{self.url}/_flowscope/requests", timeout=10).json()
        return [r for r in got if action is None or r["action"] == action]

    def clear_requests(self) -> None:
        with self._middleware.lock:
            self._middleware.log = []

    @property
    def _middleware(self) -> Middleware:
        app = self.server.app
        assert isinstance(app, Middleware)
        return app

    def fault(self, *faults: dict[str, Any]) -> None:
        requests.post(f"{self.url}/_flowscope/faults", json=list(faults), timeout=10)


# --- Test data ------------------------------------------------------------------------------


def record(i: int, start: int, eni: str = "eni-0a1") -> str:
    """A default-format flow-log record, distinct for each ``i``."""
    return (
        f"2 123456789010 {eni} 10.0.{i % 200}.{i % 250} 52.94.{i % 100}.{i % 200} "
        f"{1024 + i % 60000} 443 6 {1 + i % 9} {100 + i} {start} {start + 60} ACCEPT OK"
    )


def put_events(logs: Any, group: str, stream: str, events: list[tuple[int, str]]) -> None:
    """PutLogEvents in batches of at most 10,000 events, oldest first."""
    events = sorted(events)
    for i in range(0, len(events), 10_000):
        logs.put_log_events(
            logGroupName=group,
            logStreamName=stream,
            logEvents=[{"timestamp": t, "message": m} for t, m in events[i : i + 10_000]],
        )
