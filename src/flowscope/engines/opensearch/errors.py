"""What a cluster's failures mean, in one line: which cluster, what was being done, what to do.

:func:`explain` turns any client exception into a :class:`~flowscope.errors.StoreError` (or
:class:`~flowscope.errors.ClusterUnreachable`, which is transient), credentials scrubbed from
every message.
"""

from __future__ import annotations

import re

from opensearchpy.exceptions import (
    AuthenticationException,
    AuthorizationException,
    ConnectionError,
    SSLError,
    TransportError,
)

from flowscope import settings
from flowscope.engines.opensearch.url import StoreURL
from flowscope.errors import ClusterUnreachable, StoreError


def reason_of(e: TransportError) -> tuple[str, str]:
    """(error type, reason) of a cluster error answer."""
    info = e.info if isinstance(e.info, dict) else {}
    error = info.get("error")
    if isinstance(error, dict):
        cause = (error.get("root_cause") or [error])[0]
        return str(cause.get("type", e.error)), str(cause.get("reason", ""))
    return str(e.error), str(error or "")


def _connection_reason(e: ConnectionError) -> str:
    text = str(e.info) if e.info is not None else str(e)
    for pattern, said in (
        (r"refused", "connection refused"),
        (r"timed out|timeout", "timed out"),
        (r"Name or service not known|nodename nor servname|getaddrinfo", "host name not found"),
        (r"CERTIFICATE_VERIFY_FAILED", "the server's TLS certificate is not trusted"),
        (r"WRONG_VERSION_NUMBER|wrong version number", "the server does not speak TLS"),
        (r"RemoteDisconnected|Connection aborted|reset by peer", "the connection was dropped"),
    ):
        if re.search(pattern, text, re.IGNORECASE):
            return said
    return text.split(" caused by")[0][:160]


def blocked_error(where: str, index: str, reason: str) -> StoreError:
    return StoreError(
        f"cluster {where} refuses writes to {index}: {reason.rstrip(';')}",
        hint="free disk space on the data nodes (flood-stage watermark), then lift the block: "
        f'PUT {index}/_settings {{"index.blocks.read_only_allow_delete": null}}; this input was '
        "not recorded as loaded, so running the same command again resumes",
    )


def explain(url: StoreURL, e: Exception, doing: str) -> StoreError:
    """A one-line StoreError for a client exception, naming the cluster and what to do."""
    where = url.redacted()
    if isinstance(e, StoreError):
        return e
    if isinstance(e, SSLError):
        return ClusterUnreachable(
            f"cannot reach the cluster at {where}: TLS failed ({_connection_reason(e)})",
            hint=f"add ?ca=/path/to/ca.pem to the URL, or use {url.product}:// for plain HTTP",
        )
    if isinstance(e, ConnectionError):
        return ClusterUnreachable(
            f"cannot reach the cluster at {where}: {_connection_reason(e)} while {doing}",
            hint=f"is it running? check host, port and scheme ({url.product}s:// for TLS)",
        )
    if isinstance(e, AuthenticationException):
        return StoreError(
            f"the cluster at {where} refused the credentials (401) while {doing}",
            hint=f"check user:password in the URL, {settings.STORE_PASSWORD.env}, or ?api_key=",
        )
    if isinstance(e, TransportError):
        kind, reason = reason_of(e)
        if kind == "cluster_block_exception":
            index = re.search(r"index \[([^\]]+)\]", reason)
            return blocked_error(where, index.group(1) if index else url.name + "*", reason)
        if isinstance(e, AuthorizationException):
            return StoreError(
                f"the cluster at {where} does not allow {doing} (403: {url.scrub(reason)})",
                hint=f"grant the user read and write on the indices {url.name}*",
            )
        return StoreError(
            f"the cluster at {where} failed {doing}: {e.status_code} {kind}: {url.scrub(reason)}"
        )
    return StoreError(f"the cluster at {where} failed {doing}: {url.scrub(str(e))}")
