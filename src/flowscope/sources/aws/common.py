"""What the AWS readers share: session and clients, AWS errors in one line, time windows, locks.

Credentials and endpoints come from the standard boto3 chain (environment, profiles, SSO,
instance and container roles; ``AWS_ENDPOINT_URL`` and ``AWS_ENDPOINT_URL_<SERVICE>``), with
``--profile`` and ``--region`` on top. Retries use botocore's ``standard`` mode (exponential
backoff with full jitter, throttling codes included) with more attempts than its default of 3,
unless ``AWS_MAX_ATTEMPTS`` / ``AWS_RETRY_MODE`` (or the profile) say otherwise.

Every AWS call goes through :func:`call`, which turns botocore's exceptions into
:class:`~flowscope.errors.SourceError` (or :class:`~flowscope.errors.UsageError`) naming the
resource and, for access errors, the IAM action that is missing. Secrets are never part of a
message: only codes, resource names and endpoint URLs are.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, TypeVar

import boto3
import botocore.exceptions as bx
from botocore.config import Config

from flowscope.errors import FlowscopeError, InputError, SourceError, UsageError
from flowscope.parse.layout import Layout
from flowscope.parse.text import Parsed
from flowscope.sources import Reading

log = logging.getLogger(__name__)

#: Attempts per AWS call (botocore's standard mode would make 3) unless the user configured it.
MAX_ATTEMPTS = 10
#: Concurrent readers (streams or objects); boto3 clients are shared and thread-safe.
WORKERS = 4

_NOT_FOUND = {"ResourceNotFoundException", "NoSuchBucket", "NoSuchKey", "NotFound", "404"}
_DENIED = {
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "AuthorizationError",
    "Forbidden",
    "403",
}
_BAD_CREDENTIALS = {
    "ExpiredToken",
    "ExpiredTokenException",
    "RequestExpired",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "AuthFailure",
    "InvalidToken",
}
_THROTTLED = {
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "SlowDown",
    "RequestThrottled",
    "LimitExceededException",
}

RESUME = "what was loaded so far is kept; a re-run resumes"


@dataclass
class FailedUnit:
    """A part of a source that could not be read; the pipeline reports it as failed."""

    name: str
    error: InputError
    identity: str | None = None
    cursor: tuple[str, dict[str, Any]] | None = None

    def read(self, fmt: Layout | None, info: Reading) -> Iterator[Parsed]:
        raise self.error
        yield  # pragma: no cover - makes this a generator


class Aws:
    """A boto3 session (``profile``, ``region``) and its clients, configured for flowscope."""

    def __init__(self, profile: str | None = None, region: str | None = None) -> None:
        try:
            self.session = boto3.Session(profile_name=profile, region_name=region)
        except bx.ProfileNotFound as e:
            raise UsageError(
                f"AWS profile {profile!r} not found",
                hint="see `aws configure list-profiles`, or set AWS_CONFIG_FILE",
            ) from e
        self.profile = profile
        self._clients: dict[str, Any] = {}
        core = self.session._session
        retries: dict[str, Any] = {}
        if core.get_config_variable("max_attempts") is None:
            retries["total_max_attempts"] = MAX_ATTEMPTS
        self.attempts = int(core.get_config_variable("max_attempts") or MAX_ATTEMPTS)
        self.config = Config(
            retries=retries or None,  # type: ignore[arg-type]
            max_pool_connections=max(10, 2 * WORKERS),
            user_agent_extra="flowscope",
        )

    @property
    def region(self) -> str | None:
        return self.session.region_name

    def require_region(self, what: str) -> str:
        if not self.region:
            raise UsageError(
                f"{what}: no AWS region",
                hint="pass --region, set AWS_REGION / AWS_DEFAULT_REGION, or set it in the profile",
            )
        return self.region

    def client(self, service: str) -> Any:
        """A shared client; endpoints follow AWS_ENDPOINT_URL[_<SERVICE>] as boto3 does."""
        if service not in self._clients:
            self._clients[service] = self.session.client(service, config=self.config)  # type: ignore[call-overload]
        return self._clients[service]

    def endpoint(self, service: str) -> str:
        return str(self.client(service).meta.endpoint_url)


T = TypeVar("T")


def call(
    aws: Aws, service: str, fn: Callable[..., T], action: str, resource: str, **kwargs: Any
) -> T:
    """``fn(**kwargs)`` with botocore's retries; failures become one-line flowscope errors.

    ``action`` is the IAM action the call needs (``logs:GetLogEvents``); ``resource`` names
    what it was about (``log group /vpc/flows``), for the message.
    """
    try:
        return fn(**kwargs)
    except (bx.ClientError, bx.BotoCoreError) as e:
        raise translate(e, aws, service, action, resource) from e


def error_code(e: BaseException) -> str:
    if isinstance(e, bx.ClientError):
        return str(e.response.get("Error", {}).get("Code", ""))
    return ""


def translate(
    e: BaseException, aws: Aws, service: str, action: str, resource: str
) -> FlowscopeError:
    """One clear error for an AWS failure: what, on which resource, and what to do."""
    if isinstance(e, FlowscopeError):
        return e
    if isinstance(e, bx.ClientError):
        code = error_code(e)
        status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        message = str(e.response.get("Error", {}).get("Message", "") or "").strip()
        if code in _NOT_FOUND:
            if code == "NoSuchBucket":
                bucket = e.response.get("Error", {}).get("BucketName")
                resource = f"bucket {bucket}" if bucket else resource
            return SourceError(f"{resource} not found ({code})", hint=_where(aws, service))
        if code in _BAD_CREDENTIALS:
            return SourceError(
                f"AWS credentials were refused for {action} ({code}: {message or 'expired'})",
                hint=f"refresh them (e.g. aws sso login, a new session token) and re-run; {RESUME}",
            )
        if code in _DENIED or status == 403:
            return SourceError(
                f"access denied: {action} on {resource} ({code or status})",
                hint=f"the caller needs the IAM permission {action}; {RESUME}",
            )
        if code in _THROTTLED:
            return SourceError(
                f"{action} on {resource}: still throttled after {aws.attempts} attempts ({code})",
                hint=f"raise AWS_MAX_ATTEMPTS or read fewer streams at once; {RESUME}",
                transient=True,
            )
        return SourceError(
            f"{action} on {resource} failed: {code or status}: {message}",
            hint=RESUME,
            transient=status >= 500,
        )
    if isinstance(e, bx.NoCredentialsError | bx.PartialCredentialsError):
        return SourceError(
            f"no AWS credentials for {action} ({e})",
            hint="set AWS_PROFILE or --profile, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
            "run aws sso login, or use an instance role",
        )
    if isinstance(e, bx.TokenRetrievalError | bx.SSOError | bx.UnauthorizedSSOTokenError):
        return SourceError(
            f"AWS credentials could not be refreshed for {action} ({type(e).__name__})",
            hint="run aws sso login (or refresh the credentials) and re-run",
        )
    if isinstance(e, bx.NoRegionError):
        return UsageError(f"{resource}: no AWS region", hint="pass --region or set AWS_REGION")
    if isinstance(e, bx.ConnectionError | bx.HTTPClientError | bx.ResponseStreamingError):
        return SourceError(
            f"cannot reach {_safe_endpoint(aws, service)} for {action} on {resource} "
            f"after {aws.attempts} attempts ({type(e).__name__})",
            hint=f"check the network or AWS_ENDPOINT_URL; {RESUME}",
            transient=True,
        )
    return SourceError(f"{action} on {resource} failed: {type(e).__name__}: {e}", hint=RESUME)


def _safe_endpoint(aws: Aws, service: str) -> str:
    try:
        return aws.endpoint(service)
    except Exception:
        return f"the {service} endpoint"


def _where(aws: Aws, service: str) -> str:
    region = aws.region or "the default region"
    return f"looked in {region} at {_safe_endpoint(aws, service)}; check the name and --region"


# --- Time windows -------------------------------------------------------------------------


def now_ms() -> int:
    return int(time.time() * 1000)


# --- Concurrent readers, one ordered output ---------------------------------------------------


class Stopped(Exception):
    """Raised inside a worker when the consumer has gone away (an error, Ctrl-C)."""


Emit = Callable[[T], None]
_DONE = object()


def fan_out(
    tasks: list[Callable[[Emit[T]], None]], workers: int = WORKERS, buffered: int = 0
) -> Iterator[T]:
    """Run ``tasks`` on ``workers`` threads; yield what they emit, each task's items in order.

    Each task gets an ``emit`` function that blocks while ``buffered`` items wait (so memory
    stays bounded). A task's exception is raised here, in the consumer, which then stops the
    others. Leaving the loop early (an error downstream, Ctrl-C) stops them too.
    """
    q: queue.Queue[object] = queue.Queue(maxsize=buffered or workers + 2)
    stop = threading.Event()

    def emit(item: T) -> None:
        while True:
            if stop.is_set():
                raise Stopped
            try:
                q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def run(task: Callable[[Emit[T]], None]) -> None:
        try:
            task(emit)
        except Stopped:
            return
        except BaseException as e:  # handed to the consumer, which raises it
            with suppress(Stopped):
                emit(e)  # type: ignore[arg-type]
            return
        with suppress(Stopped):
            emit(_DONE)  # type: ignore[arg-type]

    pool = ThreadPoolExecutor(max(1, workers), thread_name_prefix="flowscope-aws")
    futures = [pool.submit(run, t) for t in tasks]
    pending = len(futures)
    try:
        while pending:
            item = q.get()
            if item is _DONE:
                pending -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item  # type: ignore[misc]
    finally:
        stop.set()
        for f in futures:
            f.cancel()
        while any(not f.done() for f in futures):
            with suppress(queue.Empty):
                q.get(timeout=0.05)
        pool.shutdown(wait=True)
