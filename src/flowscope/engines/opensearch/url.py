"""OpenSearch / Elasticsearch store URLs: parsing, redaction and the client they describe.

::

    opensearch://[user:pass@]host[:port][/name][?option=value&...]
    opensearchs://...       the same over TLS (https)
    elasticsearch://...     an Elasticsearch cluster (ILM instead of ISM for retention)
    elasticsearchs://...    the same over TLS

``name`` (default ``vpcflow``) is what users query: an alias over the daily indices
``<name>-flows-YYYY.MM.DD``. Options: ``api_key`` (Elasticsearch ``id:key`` or its base64),
``ca`` (a CA bundle file), ``verify=false``, ``aws_sigv4=es|aoss`` with ``region`` (Amazon
OpenSearch Service / Serverless, credentials from the boto3 chain), ``retention_days``,
``shards``, ``replicas``, ``refresh`` (refresh interval), ``timeout`` (seconds) and
``compress=true`` (gzip request bodies). A password may also come from
``FLOWSCOPE_STORE_PASSWORD``. Passwords and keys never appear in messages: :meth:`StoreURL.
redacted` prints ``user:***@host``.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from flowscope import settings
from flowscope.errors import UsageError

SCHEMES = {
    "opensearch": ("opensearch", False),
    "opensearchs": ("opensearch", True),
    "elasticsearch": ("elasticsearch", False),
    "elasticsearchs": ("elasticsearch", True),
}
DEFAULT_NAME = "vpcflow"
DEFAULT_PORT = 9200

_OPTIONS = {
    "api_key",
    "ca",
    "verify",
    "aws_sigv4",
    "region",
    "retention_days",
    "shards",
    "replicas",
    "refresh",
    "timeout",
    "compress",
}
# Index names: lowercase, none of \ / * ? " < > | space , #, not starting with - _ +.
_NAME = re.compile(r"^[a-z0-9][a-z0-9.\-_]{0,200}$")
_INTERVAL = re.compile(r"^(-1|\d+(ms|s|m|h|d))$")


def _bool(key: str, value: str) -> bool:
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise UsageError(f"store option {key}={value!r}: expected true or false")


def _int(key: str, value: str, low: int) -> int:
    try:
        number = int(value)
    except ValueError:
        number = low - 1
    if number < low:
        raise UsageError(f"store option {key}={value!r}: expected a whole number >= {low}")
    return number


@dataclass(frozen=True)
class StoreURL:
    """A parsed store URL. ``product`` is what the scheme says; the cluster has the last word."""

    product: str
    tls: bool
    host: str
    port: int
    name: str = DEFAULT_NAME
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    api_key: str | None = field(default=None, repr=False)
    ca: str | None = None
    verify: bool = True
    aws_sigv4: str | None = None
    region: str | None = None
    retention_days: int | None = None
    shards: int = 1
    replicas: int | None = None
    refresh: str = "30s"
    timeout: float = 60.0
    compress: bool = False

    @property
    def scheme(self) -> str:
        return self.product + ("s" if self.tls else "")

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def redacted(self) -> str:
        """The URL as it may be printed: ``opensearchs://user:***@host:443/vpcflow``."""
        who = ""
        if self.user is not None:
            who = f"{self.user}:***@" if self.password else f"{self.user}@"
        text = f"{self.scheme}://{who}{self.netloc}/{self.name}"
        if self.api_key:
            text += "?api_key=***"
        return text

    def scrub(self, text: str) -> str:
        """``text`` with every secret of this URL replaced by ``***``."""
        for secret in (self.password, self.api_key):
            if secret:
                text = text.replace(secret, "***")
        return text


def parse_url(url: str) -> StoreURL:
    """Parse an ``opensearch://`` (or ``opensearchs``, ``elasticsearch[s]``) store URL."""
    scheme, _, rest = url.partition("://")
    if scheme.lower() not in SCHEMES or not rest:
        raise UsageError(
            f"store URL {url.split('@')[-1]!r}: expected opensearch[s]:// or elasticsearch[s]://",
        )
    product, tls = SCHEMES[scheme.lower()]
    try:
        parts = urlsplit(f"http://{rest}")
    except ValueError as e:  # an unclosed '[' of an IPv6 address, for one
        raise UsageError(
            f"store URL {scheme}://…: {e}", hint="e.g. opensearch://[::1]:9200/vpcflow"
        ) from None
    shown = f"{scheme}://{parts.hostname or ''}"
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        raise UsageError(f"store {shown}: the port is not a number from 1 to 65535") from None
    if not parts.hostname:
        raise UsageError(
            f"store URL {scheme}://…: no host", hint="e.g. opensearch://127.0.0.1:9200"
        )
    name = unquote(parts.path.strip("/")) or DEFAULT_NAME
    if not _NAME.match(name) or "-flows-" in f"{name}-":
        raise UsageError(
            f"store {shown}:{port}/{name}: {name!r} cannot be an index name here",
            hint="use lowercase letters, digits, '-', '_' or '.', starting with a letter or digit",
        )
    options: dict[str, Any] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key not in _OPTIONS:
            raise UsageError(
                f"store {shown}:{port}/{name}: unknown option {key!r}",
                hint="options: " + ", ".join(sorted(_OPTIONS)),
            )
        options[key] = value
    if "verify" in options:
        options["verify"] = _bool("verify", options["verify"])
    if "compress" in options:
        options["compress"] = _bool("compress", options["compress"])
    for key, low in (("retention_days", 1), ("shards", 1), ("replicas", 0)):
        if key in options:
            options[key] = _int(key, options[key], low)
    if "timeout" in options:
        options["timeout"] = float(_int("timeout", options["timeout"], 1))
    if "refresh" in options and not _INTERVAL.match(options["refresh"]):
        raise UsageError(f"store option refresh={options['refresh']!r}: expected e.g. 30s or 1m")
    if options.get("aws_sigv4") not in (None, "es", "aoss"):
        raise UsageError(
            f"store option aws_sigv4={options['aws_sigv4']!r}: expected es (Amazon OpenSearch"
            " Service) or aoss (OpenSearch Serverless)"
        )
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    if user is not None and password is None and settings.STORE_PASSWORD.get():
        password = settings.STORE_PASSWORD.get()
    return StoreURL(
        product=product,
        tls=tls,
        host=parts.hostname,
        port=port,
        name=name,
        user=user,
        password=password,
        **options,
    )


def _api_key_header(key: str) -> str:
    # Elasticsearch takes base64("id:key"); accept either form.
    if ":" in key:
        key = base64.b64encode(key.encode()).decode()
    return f"ApiKey {key}"


def client_options(url: StoreURL) -> dict[str, Any]:
    """Keyword arguments for :class:`opensearchpy.OpenSearch` (no secrets logged by it)."""
    opts: dict[str, Any] = {
        "hosts": [{"host": url.host, "port": url.port}],
        "use_ssl": url.tls,
        "verify_certs": url.verify,
        "ssl_show_warn": url.verify,
        "timeout": url.timeout,
        # The transport retries a request on another connection when a node is unreachable
        # or answers 502/503/504; 429 and bulk item failures are retried with backoff by the
        # writer, which knows what may be sent again.
        "max_retries": 2,
        "retry_on_timeout": True,
        "http_compress": url.compress,
        "pool_maxsize": 8,
    }
    if url.ca:
        opts["ca_certs"] = url.ca
    if url.api_key:
        opts["headers"] = {"authorization": _api_key_header(url.api_key)}
    elif url.user is not None:
        opts["http_auth"] = (url.user, url.password or "")
    if url.aws_sigv4:
        opts["http_auth"] = _aws_auth(url)
    return opts


def _aws_auth(url: StoreURL) -> Any:
    """SigV4 signing with credentials from the boto3 chain (env, profile, role)."""
    import boto3
    from opensearchpy import Urllib3AWSV4SignerAuth

    session = boto3.Session()
    credentials = session.get_credentials()
    region = url.region or session.region_name
    if credentials is None:
        raise UsageError(
            f"store {url.redacted()}: aws_sigv4 needs AWS credentials and none were found",
            hint="set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
        )
    if not region:
        raise UsageError(
            f"store {url.redacted()}: aws_sigv4 needs a region",
            hint="add ?region=us-east-1 to the URL or set AWS_REGION",
        )
    return Urllib3AWSV4SignerAuth(credentials, region, url.aws_sigv4 or "es")
