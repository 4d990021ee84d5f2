"""Reading the AWS estate against moto on loopback: owners, names, pages, roles, denials."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import boto3
import pytest

from flowscope.errors import SourceError, UsageError
from flowscope.estate.aws import Identity, Snapshot, read_estate
from tests.aws_server import MotoServer

pytestmark = pytest.mark.aws

AMI = "ami-12c6146b"
ACCOUNT = "123456789012"


@dataclass
class Estate:
    vpc: str
    subnets: list[str]
    sg: str
    instances: dict[str, str]  # Name -> instance id
    nat: str
    nat_eni: str
    lb_arn: str
    vpce: str
    vpce_eni: str
    gateway_vpce: str
    service_enis: dict[str, str]  # kind -> ENI id


def tag(name: str, **more: str) -> list[dict[str, Any]]:
    tags = [{"Key": "Name", "Value": name}] + [{"Key": k, "Value": v} for k, v in more.items()]
    return [{"ResourceType": "instance", "Tags": tags}]


def build(ec2: Any, elb: Any, cidr: str = "10.42.0.0/16", n: int = 12) -> Estate:
    """A VPC with two named subnets, ``n`` named instances, a NAT gateway, a load balancer,
    an interface and a gateway VPC endpoint, and interfaces as AWS creates them for Lambda,
    ECS, RDS and an application load balancer (moto makes none for its load balancers)."""
    tag_ = uuid4().hex[:6]
    vpc = ec2.create_vpc(
        CidrBlock=cidr,
        TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "prod"}]}],
    )["Vpc"]["VpcId"]
    prefix = cidr.rsplit(".", 2)[0]
    subnets = [
        ec2.create_subnet(
            VpcId=vpc,
            CidrBlock=f"{prefix}.{k + 1}.0/24",
            AvailabilityZone=f"us-east-1{'ab'[k]}",
            TagSpecifications=[
                {"ResourceType": "subnet", "Tags": [{"Key": "Name", "Value": f"private-{k}"}]}
            ],
        )["Subnet"]["SubnetId"]
        for k in range(2)
    ]
    sg = ec2.create_security_group(GroupName=f"web-{tag_}", Description="web", VpcId=vpc)["GroupId"]
    instances = {}
    for k in range(n):
        got = ec2.run_instances(
            ImageId=AMI,
            MinCount=1,
            MaxCount=1,
            SubnetId=subnets[k % 2],
            SecurityGroupIds=[sg],
            TagSpecifications=tag(f"web-{k}", team="blue"),
        )["Instances"][0]
        instances[f"web-{k}"] = got["InstanceId"]
    eip = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = ec2.create_nat_gateway(
        SubnetId=subnets[0],
        AllocationId=eip,
        TagSpecifications=[
            {"ResourceType": "natgateway", "Tags": [{"Key": "Name", "Value": "egress"}]}
        ],
    )["NatGateway"]
    lb = elb.create_load_balancer(Name=f"front-{tag_}", Subnets=subnets)["LoadBalancers"][0]
    vpce = ec2.create_vpc_endpoint(
        VpcId=vpc,
        ServiceName="com.amazonaws.us-east-1.ssm",
        VpcEndpointType="Interface",
        SubnetIds=[subnets[0]],
    )["VpcEndpoint"]
    gateway = ec2.create_vpc_endpoint(
        VpcId=vpc, ServiceName="com.amazonaws.us-east-1.s3", VpcEndpointType="Gateway"
    )["VpcEndpoint"]["VpcEndpointId"]
    lb_key = lb["LoadBalancerArn"].split(":loadbalancer/")[1]
    descriptions = {
        "load-balancer": f"ELB {lb_key}",
        "lambda": "AWS Lambda VPC ENI-orders-api-5d9e1c2a-8f7b-4c11-9a1d-0e4f2b6c7d8e",
        "ecs-task": "arn:aws:ecs:us-east-1:123456789012:attachment/"
        "1f2e3d4c-aaaa-bbbb-cccc-0123456789ab",
        "rds": "RDSNetworkInterface",
        "interface": "something of mine",
    }
    # in a subnet of their own: moto may give an interface an instance's address
    services = ec2.create_subnet(VpcId=vpc, CidrBlock=f"{prefix}.3.0/24")["Subnet"]["SubnetId"]
    service_enis = {
        kind: ec2.create_network_interface(SubnetId=services, Description=text)["NetworkInterface"][
            "NetworkInterfaceId"
        ]
        for kind, text in descriptions.items()
    }
    return Estate(
        vpc=vpc,
        subnets=subnets,
        sg=sg,
        instances=instances,
        nat=nat["NatGatewayId"],
        nat_eni=nat["NatGatewayAddresses"][0]["NetworkInterfaceId"],
        lb_arn=lb["LoadBalancerArn"],
        vpce=vpce["VpcEndpointId"],
        vpce_eni=vpce["NetworkInterfaceIds"][0],
        gateway_vpce=gateway,
        service_enis=service_enis,
    )


@pytest.fixture(scope="module")
def estate(moto_server: MotoServer) -> Estate:
    return build(moto_server.client("ec2"), moto_server.client("elbv2"))


def by_address(snapshot: Snapshot) -> dict[str, Identity]:
    return {i.address: i for i in snapshot.identities}


def test_every_interface_is_named_by_its_owner(aws: MotoServer, estate: Estate) -> None:
    snap = read_estate()
    assert snap.warnings == []
    assert snap.covered == [(ACCOUNT, "us-east-1")]
    ids = by_address(snap)
    ec2 = aws.client("ec2")
    reservations = ec2.describe_instances(InstanceIds=list(estate.instances.values()))
    for r in reservations["Reservations"]:
        for inst in r["Instances"]:
            name = next(t["Value"] for t in inst["Tags"] if t["Key"] == "Name")
            eni = inst["NetworkInterfaces"][0]["NetworkInterfaceId"]
            subnet = inst["SubnetId"]
            az = "us-east-1a" if subnet == estate.subnets[0] else "us-east-1b"
            expected = Identity(
                address=inst["PrivateIpAddress"],
                kind="instance",
                resource_id=inst["InstanceId"],
                name=name,
                vpc_id=estate.vpc,
                subnet_id=subnet,
                az=az,
                security_groups=(estate.sg,),
                account=ACCOUNT,
                region="us-east-1",
                tags=(("Name", name), ("team", "blue")),
                interface_id=eni,
            )
            assert ids[inst["PrivateIpAddress"]] == expected
            assert ids[eni].name == name and ids[eni].kind == "instance"

    nat = ids[estate.nat_eni]
    assert (nat.kind, nat.resource_id, nat.name) == ("nat-gateway", estate.nat, "egress")
    nat_public = ec2.describe_nat_gateways(NatGatewayIds=[estate.nat])["NatGateways"][0][
        "NatGatewayAddresses"
    ][0]["PublicIp"]
    assert ids[nat_public].resource_id == estate.nat  # the NAT's public address too

    vpce = ids[estate.vpce_eni]
    assert (vpce.kind, vpce.resource_id, vpce.name) == (
        "vpc-endpoint",
        estate.vpce,
        "com.amazonaws.us-east-1.ssm",
    )
    gateway = ids[estate.gateway_vpce]
    assert (gateway.kind, gateway.name) == ("vpc-endpoint", "com.amazonaws.us-east-1.s3")

    named = {k: ids[eni] for k, eni in estate.service_enis.items()}
    lb_name = estate.lb_arn.split("/")[-2]
    assert (named["load-balancer"].kind, named["load-balancer"].name) == ("load-balancer", lb_name)
    assert named["load-balancer"].resource_id == estate.lb_arn
    assert (named["lambda"].kind, named["lambda"].name) == ("lambda", "orders-api")
    assert (named["ecs-task"].kind, named["ecs-task"].resource_id) == (
        "ecs-task",
        "1f2e3d4c-aaaa-bbbb-cccc-0123456789ab",
    )
    assert named["rds"].kind == "rds"
    assert (named["interface"].kind, named["interface"].name) == ("interface", "something of mine")

    subnet = ids["10.42.1.0/24"]
    assert (subnet.kind, subnet.resource_id, subnet.name, subnet.vpc_id, subnet.az) == (
        "subnet",
        estate.subnets[0],
        "private-0",
        estate.vpc,
        "us-east-1a",
    )
    vpc = ids["10.42.0.0/16"]
    assert (vpc.kind, vpc.resource_id, vpc.name) == ("vpc", estate.vpc, "prod")
    group = ids[estate.sg]
    assert (group.kind, group.name, group.vpc_id) == ("security-group", group.name, estate.vpc)
    assert group.name.startswith("web-")


def test_every_page_is_read(aws: MotoServer, estate: Estate) -> None:
    ec2, elb = aws.client("ec2"), aws.client("elbv2")
    for _ in range(6):
        elb.create_load_balancer(Name=f"page-{uuid4().hex[:8]}", Subnets=estate.subnets)
    aws.clear_requests()
    snap = read_estate(page_size=5)
    names = {i.name for i in snap.identities if i.kind == "instance" and i.vpc_id == estate.vpc}
    assert names == {f"web-{k}" for k in range(12)}
    reservations = ec2.describe_instances()["Reservations"]
    assert len(aws.requests("DescribeInstances")) >= -(-len(reservations) // 5) >= 3
    balancers = elb.describe_load_balancers()["LoadBalancers"]
    assert len(aws.requests("DescribeLoadBalancers")) >= -(-len(balancers) // 5) >= 2
    # the load balancer ENI is still matched to its load balancer when it is on a later page
    lb = by_address(snap)[estate.service_enis["load-balancer"]]
    assert lb.resource_id == estate.lb_arn


def test_a_second_account_through_an_assumed_role_in_two_regions(aws: MotoServer) -> None:
    other = "222233334444"
    role = f"arn:aws:iam::{other}:role/flowscope"
    creds = aws.client("sts").assume_role(RoleArn=role, RoleSessionName="setup")["Credentials"]
    ec2s = {
        region: boto3.client(
            "ec2",
            endpoint_url=aws.url,
            region_name=region,
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
        )
        for region in ("us-east-1", "eu-west-1")
    }
    made = {}
    for k, (region, ec2) in enumerate(ec2s.items()):
        vpc = ec2.create_vpc(CidrBlock=f"10.7{k}.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.7{k}.1.0/24")["Subnet"]["SubnetId"]
        inst = ec2.run_instances(
            ImageId=AMI,
            MinCount=1,
            MaxCount=1,
            SubnetId=subnet,
            TagSpecifications=tag(f"db-{region}"),
        )["Instances"][0]
        made[region] = inst
    aws.clear_requests()

    snap = read_estate(["us-east-1", "eu-west-1"], role_arn=role, external_id="ext-1")

    assert len(aws.requests("AssumeRole")) == 1
    assert snap.warnings == []
    assert snap.covered == [(other, "us-east-1"), (other, "eu-west-1")]
    assert {i.account for i in snap.identities} == {other}
    ids = by_address(snap)
    for region, inst in made.items():
        got = ids[inst["PrivateIpAddress"]]
        assert (got.name, got.region, got.resource_id) == (
            f"db-{region}",
            region,
            inst["InstanceId"],
        )


def test_a_denied_permission_is_one_warning_and_the_rest_is_read(
    aws: MotoServer, estate: Estate
) -> None:
    aws.fault({"action": "DescribeNatGateways", "code": "UnauthorizedOperation", "status": 403})
    snap = read_estate()
    assert snap.warnings == [
        "access denied: ec2:DescribeNatGateways in account 123456789012 us-east-1 "
        "(UnauthorizedOperation); NAT gateways are named by their ids"
    ]
    assert snap.covered == []  # not read completely: the history must not close what it missed
    ids = by_address(snap)
    assert {i.name for i in ids.values() if i.vpc_id == estate.vpc and i.kind == "instance"} == {
        f"web-{k}" for k in range(12)
    }
    assert ids["10.42.0.0/16"].name == "prod"
    # without DescribeNatGateways its interface is no longer known as the NAT gateway's
    assert ids[estate.nat_eni].kind == "interface"


def test_other_failures_stop_the_refresh(aws: MotoServer, estate: Estate) -> None:
    aws.fault({"action": "DescribeSubnets", "code": "InvalidParameterValue", "status": 400})
    with pytest.raises(SourceError, match=r"ec2:DescribeSubnets .*InvalidParameterValue"):
        read_estate()


def test_a_role_that_cannot_be_assumed_is_one_clear_error(aws: MotoServer) -> None:
    aws.fault({"action": "AssumeRole", "code": "AccessDenied", "status": 403})
    role = "arn:aws:iam::222233334444:role/flowscope"
    with pytest.raises(SourceError) as err:
        read_estate(role_arn=role, external_id="wrong")
    assert str(err.value).startswith(f"access denied: sts:AssumeRole on role {role} (AccessDenied)")
    assert aws.requests("DescribeNetworkInterfaces") == []


def test_no_region_and_a_bad_page_size_are_usage_errors(
    aws: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    with pytest.raises(UsageError, match="inventory refresh: no AWS region"):
        read_estate()
    with pytest.raises(UsageError, match=r"page size 2: expected 5\.\.1000"):
        read_estate(["us-east-1"], page_size=2)


def test_secondary_and_ipv6_addresses_are_named_in_one_spelling(aws: MotoServer) -> None:
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.55.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]
    v6 = vpc["Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"]  # a /56
    net = v6.split("/")[0].rstrip(":")  # "2400:6500:65be:6800"
    subnet = ec2.create_subnet(
        VpcId=vpc["VpcId"], CidrBlock="10.55.1.0/24", Ipv6CidrBlock=f"{net}::/64"
    )["Subnet"]["SubnetId"]
    eni = ec2.create_network_interface(
        SubnetId=subnet,
        PrivateIpAddress="10.55.1.10",
        PrivateIpAddresses=[
            {"PrivateIpAddress": "10.55.1.10", "Primary": True},
            {"PrivateIpAddress": "10.55.1.11", "Primary": False},
        ],
        Ipv6Addresses=[{"Ipv6Address": f"{net.upper()}:0:0:0:ABCD"}],
        Description="a dual-stack interface",
    )["NetworkInterface"]["NetworkInterfaceId"]

    ids = by_address(read_estate())

    # one spelling: compressed, lower case, no leading zeros (moto's random /56 may have
    # groups such as 03a4, which the test's own string would keep)
    six = str(ipaddress.ip_address(f"{net}::abcd"))
    for address in ("10.55.1.10", "10.55.1.11", six, eni):
        assert (ids[address].interface_id, ids[address].name) == (eni, "a dual-stack interface")
    assert ids[f"{net}::/64"].kind == "subnet"
    assert (ids[v6].kind, ids[v6].resource_id) == ("vpc", vpc["VpcId"])
