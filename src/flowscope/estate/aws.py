"""One snapshot of the AWS estate: every address, interface and network, named, as a flat list.

:func:`read_estate` reads, for each region (and, with ``role_arn``, in another account through
STS AssumeRole), with pagination: ``DescribeNetworkInterfaces`` (who owns each interface, from
its InterfaceType, Attachment, RequesterId and Description), ``DescribeInstances``,
``DescribeNatGateways``, ``DescribeVpcEndpoints``, ELBv2 ``DescribeLoadBalancers``,
``DescribeSubnets``, ``DescribeVpcs`` and ``DescribeSecurityGroups``, through the project's
session helper (:class:`flowscope.sources.aws.common.Aws`: profiles, endpoints, retries).

Each :class:`Identity` is keyed by its ``address``: an IP address (private, public, IPv6) or an
interface id for an interface's owner; a CIDR for a subnet or a VPC; a group id for a security
group; an endpoint id for a gateway VPC endpoint (it has no interface). A permission that is
denied (AccessDenied, UnauthorizedOperation) on one call becomes one warning naming the IAM
action, the rest of the refresh goes on, and that account and region are left out of
:attr:`Snapshot.covered` (so the history does not close what a denied call could not see).
Any other failure (network, throttled past the retries, bad credentials) is raised.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import boto3
import botocore.exceptions as bx

from flowscope.errors import FlowscopeError, UsageError
from flowscope.sources.aws.common import Aws, call, error_code, translate

log = logging.getLogger(__name__)

#: Items per page: EC2 takes 5..1000 (MaxResults), ELBv2 1..400 (PageSize).
PAGE_SIZE = 1000
_ELB_PAGE_MAX = 400
_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError"}

#: Kinds of identity. Interfaces whose owner is not recognised are ``interface``.
KINDS = (
    "instance",
    "nat-gateway",
    "load-balancer",
    "vpc-endpoint",
    "lambda",
    "ecs-task",
    "rds",
    "efs",
    "elasticache",
    "transit-gateway",
    "interface",
    "subnet",
    "vpc",
    "security-group",
)

Tags = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Identity:
    """Who holds ``address`` (an IP, an interface id, a CIDR or a resource id), as seen now."""

    address: str
    kind: str
    resource_id: str
    name: str
    vpc_id: str | None = None
    subnet_id: str | None = None
    az: str | None = None
    security_groups: tuple[str, ...] = ()
    account: str = ""
    region: str = ""
    tags: Tags = ()
    interface_id: str | None = None


@dataclass
class Snapshot:
    """What one refresh saw: the identities, the warnings, and which (account, region) it
    read completely (no call denied)."""

    taken_at: datetime
    identities: list[Identity] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    covered: list[tuple[str, str]] = field(default_factory=list)


def read_estate(
    regions: Sequence[str] = (),
    *,
    profile: str | None = None,
    role_arn: str | None = None,
    external_id: str | None = None,
    page_size: int = PAGE_SIZE,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Snapshot:
    """Read the estate of one account (the caller's, or ``role_arn``'s) in ``regions``.

    Without ``regions``, the session's own region (``--region``, ``AWS_REGION``, the profile).
    """
    if not 5 <= page_size <= 1000:
        raise UsageError(f"page size {page_size}: expected 5..1000 (EC2's MaxResults range)")
    base = Aws(profile, regions[0] if regions else None)
    names = list(dict.fromkeys(regions)) or [base.require_region("inventory refresh")]
    credentials = _assume(base, role_arn, external_id) if role_arn else None
    snapshot = Snapshot(taken_at=now())
    for region in names:
        aws = Aws(profile, region)
        if credentials is not None:
            aws.session = boto3.Session(
                aws_access_key_id=credentials["AccessKeyId"],
                aws_secret_access_key=credentials["SecretAccessKey"],
                aws_session_token=credentials["SessionToken"],
                region_name=region,
            )
        reader = _Reader(aws, region, page_size)
        snapshot.identities.extend(reader.read())
        snapshot.warnings.extend(reader.warnings)
        if not reader.warnings:
            snapshot.covered.append((reader.account, region))
    return snapshot


def _assume(aws: Aws, role_arn: str, external_id: str | None) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"RoleArn": role_arn, "RoleSessionName": "flowscope-inventory"}
    if external_id:
        kwargs["ExternalId"] = external_id
    sts = aws.client("sts")
    got = call(aws, "sts", sts.assume_role, "sts:AssumeRole", f"role {role_arn}", **kwargs)
    return dict(got["Credentials"])


# --- Reading one account and region ---------------------------------------------------------


class _Reader:
    def __init__(self, aws: Aws, region: str, page_size: int) -> None:
        self.aws, self.region, self.page_size = aws, region, page_size
        self.warnings: list[str] = []
        self.account = ""

    def _list(
        self, service: str, op: str, key: str, action: str, lost: str, **kwargs: Any
    ) -> list[dict[str, Any]]:
        """Every item of a paginated call; a denied permission is a warning and no items."""
        client = self.aws.client(service)
        size = min(self.page_size, _ELB_PAGE_MAX) if service == "elbv2" else self.page_size
        items: list[dict[str, Any]] = []
        try:
            pages = client.get_paginator(op).paginate(PaginationConfig={"PageSize": size}, **kwargs)
            for page in pages:
                items.extend(page.get(key, []))
        except (bx.ClientError, bx.BotoCoreError) as e:
            code = error_code(e)
            status = 0
            if isinstance(e, bx.ClientError):
                status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            where = f"account {self.account or '?'} {self.region}"
            if code in _DENIED or status == 403:
                self.warnings.append(
                    f"access denied: {action} in {where} ({code or status}); {lost}"
                )
                log.debug("%s denied", action, exc_info=True)
                return []
            raise translate(e, self.aws, service, action, where) from e
        return items

    def read(self) -> list[Identity]:
        self.account = self._whoami()
        enis = self._list(
            "ec2",
            "describe_network_interfaces",
            "NetworkInterfaces",
            "ec2:DescribeNetworkInterfaces",
            "no addresses or interfaces were named",
        )
        reservations = self._list(
            "ec2",
            "describe_instances",
            "Reservations",
            "ec2:DescribeInstances",
            "instances are named by their ids",
        )
        nats = self._list(
            "ec2",
            "describe_nat_gateways",
            "NatGateways",
            "ec2:DescribeNatGateways",
            "NAT gateways are named by their ids",
        )
        endpoints = self._list(
            "ec2",
            "describe_vpc_endpoints",
            "VpcEndpoints",
            "ec2:DescribeVpcEndpoints",
            "VPC endpoints are named by their ids",
        )
        balancers = self._list(
            "elbv2",
            "describe_load_balancers",
            "LoadBalancers",
            "elasticloadbalancing:DescribeLoadBalancers",
            "load balancers are named from their interfaces",
        )
        subnets = self._list(
            "ec2",
            "describe_subnets",
            "Subnets",
            "ec2:DescribeSubnets",
            "subnets are not named",
        )
        vpcs = self._list("ec2", "describe_vpcs", "Vpcs", "ec2:DescribeVpcs", "VPCs are not named")
        groups = self._list(
            "ec2",
            "describe_security_groups",
            "SecurityGroups",
            "ec2:DescribeSecurityGroups",
            "security groups are not named",
        )
        owners = _Owners(
            instances={i["InstanceId"]: i for r in reservations for i in r.get("Instances", [])},
            nats={
                a["NetworkInterfaceId"]: n
                for n in nats
                for a in n.get("NatGatewayAddresses", [])
                if a.get("NetworkInterfaceId")
            },
            endpoints={e: v for v in endpoints for e in v.get("NetworkInterfaceIds", [])},
            balancers={_elb_key(b["LoadBalancerArn"]): b for b in balancers},
        )
        out: list[Identity] = []
        for eni in enis:
            out.extend(self._interface(eni, owners))
        out.extend(self._networks(subnets, vpcs, groups, endpoints))
        return out

    def _whoami(self) -> str:
        sts = self.aws.client("sts")
        try:
            got = call(
                self.aws, "sts", sts.get_caller_identity, "sts:GetCallerIdentity", "the caller"
            )
        except FlowscopeError as e:
            log.debug("GetCallerIdentity failed: %s", e)
            return ""
        return str(got.get("Account", ""))

    def _interface(self, eni: dict[str, Any], owners: _Owners) -> list[Identity]:
        eni_id = str(eni["NetworkInterfaceId"])
        kind, resource_id, name, tags = owners.owner(eni)
        base = Identity(
            address=eni_id,
            kind=kind,
            resource_id=resource_id,
            name=name,
            vpc_id=eni.get("VpcId"),
            subnet_id=eni.get("SubnetId"),
            az=eni.get("AvailabilityZone"),
            security_groups=tuple(sorted(g["GroupId"] for g in eni.get("Groups", []))),
            account=str(eni.get("OwnerId") or self.account),
            region=self.region,
            tags=tags,
            interface_id=eni_id,
        )
        addresses: list[str] = []
        for p in eni.get("PrivateIpAddresses", []):
            addresses.append(p["PrivateIpAddress"])
            if p.get("Association", {}).get("PublicIp"):
                addresses.append(p["Association"]["PublicIp"])
        if eni.get("PrivateIpAddress"):
            addresses.append(eni["PrivateIpAddress"])
        if eni.get("Association", {}).get("PublicIp"):
            addresses.append(eni["Association"]["PublicIp"])
        addresses.extend(a["Ipv6Address"] for a in eni.get("Ipv6Addresses", []))
        seen = dict.fromkeys([eni_id, *(_canonical(a) for a in addresses)])
        return [replace(base, address=a) for a in seen]

    def _networks(
        self,
        subnets: Iterable[dict[str, Any]],
        vpcs: Iterable[dict[str, Any]],
        groups: Iterable[dict[str, Any]],
        endpoints: Iterable[dict[str, Any]],
    ) -> list[Identity]:
        out: list[Identity] = []
        for s in subnets:
            tags = _tags(s.get("Tags"))
            cidrs = [s.get("CidrBlock")] + [
                a.get("Ipv6CidrBlock") for a in s.get("Ipv6CidrBlockAssociationSet", [])
            ]
            for cidr in dict.fromkeys(c for c in cidrs if c):
                out.append(
                    Identity(
                        address=cidr,
                        kind="subnet",
                        resource_id=s["SubnetId"],
                        name=_tag(tags, "Name") or s["SubnetId"],
                        vpc_id=s.get("VpcId"),
                        subnet_id=s["SubnetId"],
                        az=s.get("AvailabilityZone"),
                        account=str(s.get("OwnerId") or self.account),
                        tags=tags,
                        region=self.region,
                    )
                )
        for v in vpcs:
            tags = _tags(v.get("Tags"))
            cidrs = [v.get("CidrBlock")]
            cidrs += [a.get("CidrBlock") for a in v.get("CidrBlockAssociationSet", [])]
            cidrs += [a.get("Ipv6CidrBlock") for a in v.get("Ipv6CidrBlockAssociationSet", [])]
            for cidr in dict.fromkeys(c for c in cidrs if c):
                out.append(
                    Identity(
                        address=cidr,
                        kind="vpc",
                        resource_id=v["VpcId"],
                        name=_tag(tags, "Name") or v["VpcId"],
                        vpc_id=v["VpcId"],
                        account=str(v.get("OwnerId") or self.account),
                        tags=tags,
                        region=self.region,
                    )
                )
        for g in groups:
            tags = _tags(g.get("Tags"))
            out.append(
                Identity(
                    address=g["GroupId"],
                    kind="security-group",
                    resource_id=g["GroupId"],
                    name=_tag(tags, "Name") or g.get("GroupName") or g["GroupId"],
                    vpc_id=g.get("VpcId"),
                    account=str(g.get("OwnerId") or self.account),
                    tags=tags,
                    region=self.region,
                )
            )
        for e in endpoints:
            if e.get("NetworkInterfaceIds"):
                continue  # interface endpoints are named through their interfaces
            tags = _tags(e.get("Tags"))
            out.append(
                Identity(
                    address=e["VpcEndpointId"],
                    kind="vpc-endpoint",
                    resource_id=e["VpcEndpointId"],
                    name=_tag(tags, "Name") or e.get("ServiceName") or e["VpcEndpointId"],
                    vpc_id=e.get("VpcId"),
                    account=str(e.get("OwnerId") or self.account),
                    tags=tags,
                    region=self.region,
                )
            )
        return out


# --- Who owns an interface ------------------------------------------------------------------

# The descriptions AWS gives the interfaces it creates for its services:
# https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/requester-managed-eni.html
_LAMBDA = re.compile(r"^AWS Lambda VPC ENI-(?P<name>.+?)-[0-9a-f]{8}-[0-9a-f-]{27}$")
_ELB = re.compile(r"^ELB (?P<key>(?:app|net|gwy)/[^/]+/[0-9a-f]+|[^/ ]+)$")
_NAT = re.compile(r"\b(nat-[0-9a-f]+)\b")
_VPCE = re.compile(r"\b(vpce-[0-9a-f]+)\b")
_ECS = re.compile(r"^arn:aws[\w-]*:ecs:[^:]*:\d*:attachment/(?P<id>[\w-]+)$")
_EFS = re.compile(r"^EFS mount target for (?P<fs>fs-[0-9a-f]+)")
_TGW = re.compile(r"\b(tgw-attach-[0-9a-f]+)\b")
_OTHER_ELB = {"load_balancer", "network_load_balancer", "gateway_load_balancer"}


@dataclass
class _Owners:
    instances: dict[str, dict[str, Any]]
    nats: dict[str, dict[str, Any]]
    endpoints: dict[str, dict[str, Any]]
    balancers: dict[str, dict[str, Any]]

    def owner(self, eni: dict[str, Any]) -> tuple[str, str, str, Tags]:
        """(kind, resource id, name, tags) of the resource an interface belongs to."""
        eni_id = str(eni["NetworkInterfaceId"])
        kind = str(eni.get("InterfaceType") or "interface")
        desc = str(eni.get("Description") or "")
        requester = str(eni.get("RequesterId") or "")
        eni_tags = _tags(eni.get("TagSet"))
        instance_id = (eni.get("Attachment") or {}).get("InstanceId")
        if instance_id:
            inst = self.instances.get(instance_id, {})
            tags = _tags(inst.get("Tags")) or eni_tags
            return "instance", instance_id, _tag(tags, "Name") or instance_id, tags
        if kind == "natGateway" or eni_id in self.nats or desc.startswith("Interface for NAT"):
            nat = self.nats.get(eni_id, {})
            m = _NAT.search(desc)
            nat_id = nat.get("NatGatewayId") or (m.group(1) if m else eni_id)
            tags = _tags(nat.get("Tags")) or eni_tags
            return "nat-gateway", nat_id, _tag(tags, "Name") or nat_id, tags
        if kind == "vpc_endpoint" or eni_id in self.endpoints:
            vpce = self.endpoints.get(eni_id, {})
            m = _VPCE.search(desc)
            vpce_id = vpce.get("VpcEndpointId") or (m.group(1) if m else eni_id)
            tags = _tags(vpce.get("Tags")) or eni_tags
            name = _tag(tags, "Name") or vpce.get("ServiceName") or vpce_id
            return "vpc-endpoint", vpce_id, name, tags
        m = _ELB.match(desc)
        if kind in _OTHER_ELB or requester == "amazon-elb" or m:
            key = m.group("key") if m else ""
            lb = self.balancers.get(key, {})
            lb_name = lb.get("LoadBalancerName") or (key.split("/")[1] if "/" in key else key)
            return "load-balancer", lb.get("LoadBalancerArn") or key or eni_id, lb_name, eni_tags
        m = _LAMBDA.match(desc)
        if kind == "lambda" or m:
            name = m.group("name") if m else (_tag(eni_tags, "Name") or eni_id)
            return "lambda", name, name, eni_tags
        m = _ECS.match(desc)
        if m:
            return "ecs-task", m.group("id"), _tag(eni_tags, "Name") or m.group("id"), eni_tags
        if requester == "amazon-rds" or desc == "RDSNetworkInterface":
            return "rds", eni_id, _tag(eni_tags, "Name") or "RDS", eni_tags
        m = _EFS.match(desc)
        if m:
            return "efs", m.group("fs"), m.group("fs"), eni_tags
        if desc.startswith("ElastiCache "):
            cluster = desc.removeprefix("ElastiCache ")
            return "elasticache", cluster, cluster, eni_tags
        m = _TGW.search(desc)
        if kind == "transit_gateway" or m:
            tgw = m.group(1) if m else eni_id
            return "transit-gateway", tgw, tgw, eni_tags
        return "interface", eni_id, _tag(eni_tags, "Name") or desc or eni_id, eni_tags


def _canonical(address: str) -> str:
    """One spelling per address (IPv6 compressed, lower case), so lookups match exactly."""
    try:
        return ipaddress.ip_address(address).compressed
    except ValueError:
        return address


def _elb_key(arn: str) -> str:
    """``app/name/id`` (what an interface's description says) from a load balancer's ARN."""
    return arn.split(":loadbalancer/", 1)[-1]


def _tags(raw: Iterable[dict[str, Any]] | None) -> Tags:
    return tuple(sorted((str(t["Key"]), str(t.get("Value", ""))) for t in raw or ()))


def _tag(tags: Tags, key: str) -> str:
    return next((v for k, v in tags if k == key), "")
