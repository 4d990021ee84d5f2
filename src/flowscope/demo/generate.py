"""Realistic synthetic AWS VPC Flow Logs, generated with numpy and written as AWS would.

One VPC (10.0.0.0/16 plus an IPv6 /56) in three AZs: public subnets holding a NAT gateway, the
ENIs of an application load balancer and a bastion; private app subnets with the app instances,
an internal DNS resolver, a monitoring host and an idle instance; db subnets with RDS ENIs;
cache subnets with ElastiCache ENIs. Traffic is drawn per *conversation* (a 5-tuple living one
or more 60 s aggregation intervals) and written as AWS records it: one record per interval,
direction and recording ENI, so a request and its reply are two records, a flow between two
instances of the VPC four, and an instance reaching the internet through the NAT gateway six
(the NAT ENI records the forwarded packets with ``pkt-dstaddr`` / ``pkt-srcaddr`` set to the
real peer, and its own port translation).

Mix: clients on the internet calling the load balancer on 443 (some over IPv6), the load
balancer and the apps calling apps on 8080, apps using PostgreSQL (5432, pooled long-lived
connections) and Redis (6379), DNS to the internal resolver which forwards upstream, NTP,
HTTP/HTTPS to the internet through the NAT gateway, S3 and DynamoDB through gateway endpoints,
IPv6 egress, ICMP pings from the monitoring host, SSH sessions through the bastion, scanners
probing 22/3389 and other ports (REJECT, SYN only), packets arriving after close (REJECT),
NODATA and SKIPDATA records. Payload sizes are heavy tailed (lognormal body, Pareto tail up to
multi-GB S3 transfers); packet counts follow from payload, MTU and ACKs, so bytes/packets stays
between 40 and 9001. Volume follows a diurnal curve peaking at 15:00 UTC.

The S3 layout is one gzip object per flow log and 5-minute window of ``end`` (AWS's publishing
period), named ``{account}_vpcflowlogs_{region}_{flow-log-id}_{YYYYMMDDTHHmmZ}_{hash8}.log.gz``,
starting with the header line and sorted by ``end``. Text is built column-wise with Arrow and
compressed on worker threads (zlib releases the GIL).

The generator is split by what it owns: :mod:`~flowscope.demo.spec` (formats and what to
generate), :mod:`~flowscope.demo.topology` (the VPC and its addresses),
:mod:`~flowscope.demo.traffic` (conversations), :mod:`~flowscope.demo.records` (conversations to
records), :mod:`~flowscope.demo.render` (records to text) and :mod:`~flowscope.demo.write` (the S3
layout and the benchmark file). This module is its public face.

Reference: ``shared/docs/vpc-flow-logs.md`` sections 1, 2, 3, 4.2 and 6.
"""

from __future__ import annotations

from flowscope.demo.render import generate_records, header_line
from flowscope.demo.spec import (
    DEFAULT_FIELDS,
    DEFAULT_FORMAT,
    FLOW_LOGS,
    V5_FIELDS,
    V5_FORMAT,
    DemoSpec,
    format_fields,
    to_log_format,
)
from flowscope.demo.write import s3_key, write_benchmark_file, write_demo

__all__ = [
    "DEFAULT_FIELDS",
    "DEFAULT_FORMAT",
    "FLOW_LOGS",
    "V5_FIELDS",
    "V5_FORMAT",
    "DemoSpec",
    "format_fields",
    "generate_records",
    "header_line",
    "s3_key",
    "to_log_format",
    "write_benchmark_file",
    "write_demo",
]
