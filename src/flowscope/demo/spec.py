"""The demo's formats (the default and AWS's v5 custom LogFormat) and :class:`DemoSpec`, what to
generate.

Part of the demo generator; :mod:`flowscope.demo.generate` is its public face.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


_VERSION_OF: dict[str, int] = {
    **dict.fromkeys(
        "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes"
        " start end action log-status".split(),
        2,
    ),
    **dict.fromkeys(
        "vpc-id subnet-id instance-id tcp-flags type pkt-srcaddr pkt-dstaddr".split(), 3
    ),
    **dict.fromkeys("region az-id sublocation-type sublocation-id".split(), 4),
    **dict.fromkeys(
        "pkt-src-aws-service pkt-dst-aws-service flow-direction traffic-path".split(), 5
    ),
}

DEFAULT_FIELDS: tuple[str, ...] = tuple(f for f, v in _VERSION_OF.items() if v == 2)
# The field order of AWS's own v5 example (doc section 6), not the table order.
V5_FIELDS: tuple[str, ...] = tuple(
    "version srcaddr dstaddr srcport dstport protocol start end type packets bytes account-id"
    " vpc-id subnet-id instance-id interface-id region az-id sublocation-type sublocation-id"
    " action tcp-flags pkt-srcaddr pkt-dstaddr pkt-src-aws-service pkt-dst-aws-service"
    " traffic-path flow-direction log-status".split()
)


def to_log_format(fields: Sequence[str]) -> str:
    """``['srcaddr', 'dstaddr']`` -> ``'${srcaddr} ${dstaddr}'``."""
    return " ".join(f"${{{f}}}" for f in fields)


def format_fields(log_format: str) -> list[str]:
    """The field names of an AWS ``LogFormat`` string, checked against the v2..v5 fields."""
    names = [tok.strip()[2:-1] for tok in log_format.split()]
    bad = [n for n in names if n not in _VERSION_OF]
    if bad or not names:
        raise ValueError(f"unsupported fields for the demo generator: {bad or log_format!r}")
    return names


DEFAULT_FORMAT: str = to_log_format(DEFAULT_FIELDS)
V5_FORMAT: str = to_log_format(V5_FIELDS)

FLOW_LOGS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("fl-0demo0default", DEFAULT_FIELDS),
    ("fl-0demo0v5custom", V5_FIELDS),
)
WINDOW_SECONDS = 300  # S3 publishing period: one object per flow log and 5 minutes of `end`


def _yesterday_midnight() -> datetime:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=1)


@dataclass(frozen=True)
class DemoSpec:
    """What to generate. ``records=None`` gives the natural volume (~490k records a day)."""

    start: datetime = field(default_factory=_yesterday_midnight)
    hours: float = 24.0
    records: int | None = None
    seed: int = 7
    account_id: str = "123456789012"
    region: str = "us-east-1"
    enis: int = 48
    #: Add the attack scenarios of :mod:`flowscope.demo.attacks` to the normal traffic.
    attacks: bool = False

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.start.utcoffset() is None:
            raise ValueError("DemoSpec.start must be timezone-aware (UTC)")
        if not self.hours > 0:
            raise ValueError("DemoSpec.hours must be > 0")
        if self.records is not None and self.records <= 0:
            raise ValueError("DemoSpec.records must be > 0")
        if self.enis < 13:
            raise ValueError("DemoSpec.enis must be >= 13")
