"""Flow logs read straight from AWS: CloudWatch Logs groups, S3 prefixes, subscription payloads.

::

    common.py      session and clients, AWS errors as one line, time windows, fan-out
    cloudwatch.py  cloudwatch://GROUP: streams read with GetLogEvents, per-stream cursors
    s3.py          s3://bucket/prefix: AWS key layouts pruned by date, objects in parallel
    payload.py     --payload: subscription-filter payloads (Kinesis, Lambda, Firehose)

Each is a :class:`flowscope.sources.Source`: :func:`flowscope.pipeline.read_source` hands it
the store's checkpoints to plan a run, then loads the plan's units, each with its cursor.
"""

from __future__ import annotations

from datetime import timedelta

from flowscope.errors import UsageError
from flowscope.sources.aws.cloudwatch import OVERLAP, CloudWatchSource
from flowscope.sources.aws.common import WORKERS, Aws
from flowscope.sources.aws.s3 import S3Source
from flowscope.times import TimeRange

SCHEMES = ("cloudwatch://", "s3://")

__all__ = [
    "OVERLAP",
    "SCHEMES",
    "Aws",
    "CloudWatchSource",
    "S3Source",
    "open_source",
]


def is_remote(arg: str) -> bool:
    return arg.startswith(SCHEMES)


def open_source(
    url: str,
    aws: Aws,
    window: TimeRange,
    streams: tuple[str, ...] = (),
    overlap: timedelta = OVERLAP,
    workers: int = WORKERS,
    whole: bool = False,
) -> CloudWatchSource | S3Source:
    """The reader for a ``cloudwatch://`` or ``s3://`` URL.

    ``whole``: read the window whole (an explicit ``ingest --since/--until``), not only what
    the checkpoints say is missing; records already loaded are still dropped.
    """
    if url.startswith("cloudwatch://"):
        return CloudWatchSource(url, aws, window, streams, overlap, workers, whole)
    if url.startswith("s3://"):
        if streams:
            raise UsageError("--streams applies to cloudwatch:// sources only")
        return S3Source(url, aws, window, workers)
    raise UsageError(f"{url}: not an AWS source", hint="use cloudwatch://GROUP or s3://bucket/")
