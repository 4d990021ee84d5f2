"""`flowscope inventory refresh` and `follow --inventory-every` against moto on loopback,
through the real CLI: pages, an assumed role in a second account, a denied permission."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from uuid import uuid4

import boto3
import pytest

from tests.aws_server import MotoServer
from tests.test_estate_aws import AMI, build, tag
from tests.test_estate_cli import flows

pytestmark = pytest.mark.aws

Cli = Callable[..., subprocess.CompletedProcess[str]]


def ok(got: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert got.returncode == 0, got.stderr
    return got


def instance(ec2: object, cidr: str, name: str) -> dict[str, str]:
    vpc = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]  # type: ignore[attr-defined]
    subnet = ec2.create_subnet(  # type: ignore[attr-defined]
        VpcId=vpc, CidrBlock=cidr.replace("0.0/16", "1.0/24")
    )["Subnet"]["SubnetId"]
    got = ec2.run_instances(  # type: ignore[attr-defined]
        ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=subnet, TagSpecifications=tag(name)
    )["Instances"][0]
    return {"id": got["InstanceId"], "address": got["PrivateIpAddress"], "vpc": vpc}


def test_refresh_reads_every_page_and_names_stored_flows(
    cli: Cli, aws: MotoServer, tmp_path: Path
) -> None:
    estate = build(aws.client("ec2"), aws.client("elbv2"), cidr="10.61.0.0/16")
    ec2 = aws.client("ec2")
    inst = ec2.describe_instances(InstanceIds=list(estate.instances.values()))
    held = {
        i["PrivateIpAddress"]: next(t["Value"] for t in i["Tags"] if t["Key"] == "Name")
        for r in inst["Reservations"]
        for i in r["Instances"]
    }
    store = tmp_path / "s.duckdb"
    rows = [(a, "52.94.1.1", "2026-11-20T09:00:00") for a in sorted(held)]
    ok(cli("-s", str(store), "ingest", str(flows(tmp_path / "a.log", rows))))
    aws.clear_requests()

    got = ok(cli("-s", str(store), "inventory", "refresh", "--page-size", "5"))

    assert len(aws.requests("DescribeInstances")) >= 3  # 12+ instances, 5 a page
    assert "warning" not in got.stderr
    assert "closed, 0 unchanged" in got.stderr and f"named {len(rows)} stored flows" in got.stderr
    assert "inventory from aws account 123456789012 us-east-1:" in got.stderr
    top = json.loads(ok(cli("-s", str(store), "top", "src_name", "--json", "-n", "50")).stdout)
    assert {r["value"]: r["count"] for r in top["rows"]} == dict.fromkeys(held.values(), 1)
    kinds = json.loads(ok(cli("-s", str(store), "inventory", "show", "--json")).stdout)["kinds"]
    for kind in ("instance", "nat-gateway", "vpc-endpoint", "load-balancer", "subnet", "vpc"):
        assert kinds.get(kind, 0) >= 1, kinds

    # nothing changed: nothing opened or closed, and stored flows are left alone
    again = ok(cli("-s", str(store), "inventory", "refresh"))
    assert ": 0 opened, 0 closed," in again.stderr
    assert "nothing changed: stored flows keep their names" in again.stderr


def test_refresh_another_account_through_a_role_in_two_regions(
    cli: Cli, aws: MotoServer, tmp_path: Path
) -> None:
    other = "444455556666"
    role = f"arn:aws:iam::{other}:role/flowscope"
    creds = aws.client("sts").assume_role(RoleArn=role, RoleSessionName="setup")["Credentials"]
    made = {}
    for k, region in enumerate(("us-east-1", "eu-west-1")):
        ec2 = boto3.client(
            "ec2",
            endpoint_url=aws.url,
            region_name=region,
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
        )
        made[region] = instance(ec2, f"10.8{k}.0.0/16", f"db-{region}")
    aws.clear_requests()
    store = tmp_path / "s.duckdb"

    got = cli(
        "-s", str(store), "inventory", "refresh", "--role-arn", role, "--external-id", "x-1",
        "--region", "us-east-1", "--region", "eu-west-1",
    )  # fmt: skip

    assert got.returncode == 0, got.stderr
    assert len(aws.requests("AssumeRole")) == 1
    assert f"inventory from aws account {other} eu-west-1,us-east-1:" in got.stderr
    for region, inst in made.items():
        who = json.loads(ok(cli("-s", str(store), "who", inst["address"], "--json")).stdout)
        ident = who["identity"]
        assert (ident["name"], ident["account"], ident["region"], ident["resource_id"]) == (
            f"db-{region}",
            other,
            region,
            inst["id"],
        )
    lone = cli("-s", str(store), "inventory", "refresh", "--external-id", "x-1")
    assert lone.returncode == 2 and "--external-id goes with --role-arn" in lone.stderr


def test_a_denied_permission_is_one_warning_and_closes_nothing(
    cli: Cli, aws: MotoServer, tmp_path: Path
) -> None:
    ec2 = aws.client("ec2")
    web = instance(ec2, "10.91.0.0/16", f"web-{uuid4().hex[:4]}")
    store = tmp_path / "s.duckdb"
    first = ok(cli("-s", str(store), "inventory", "refresh"))
    assert ", 0 closed, 0 unchanged" in first.stderr
    ec2.terminate_instances(InstanceIds=[web["id"]])  # gone, but a denied call cannot tell
    aws.fault({"action": "DescribeNetworkInterfaces", "code": "UnauthorizedOperation",
               "status": 403})  # fmt: skip

    got = cli("-s", str(store), "inventory", "refresh")

    assert got.returncode == 0, got.stderr
    warnings = [line for line in got.stderr.splitlines() if line.startswith("warning")]
    assert warnings == [
        "warning access denied: ec2:DescribeNetworkInterfaces in account 123456789012 "
        "us-east-1 (UnauthorizedOperation); no addresses or interfaces were named"
    ]
    assert " 0 closed," in got.stderr  # the account was not read whole: nothing is closed
    who = json.loads(ok(cli("-s", str(store), "who", web["address"], "--json")).stdout)
    assert who["identity"]["resource_id"] == web["id"] and who["identity"]["until"] is None


def test_follow_refreshes_the_inventory_and_a_failed_refresh_is_a_warning(
    aws: MotoServer, tmp_path: Path
) -> None:
    web = instance(aws.client("ec2"), "10.92.0.0/16", f"app-{uuid4().hex[:4]}")
    bucket = f"inv-{uuid4().hex[:8]}"
    aws.client("s3").create_bucket(Bucket=bucket)
    # the first refresh meets an error that is not a denial; the next one goes through
    aws.fault({"action": "DescribeSubnets", "code": "InvalidParameterValue", "status": 400})
    store = tmp_path / "s.duckdb"
    log = tmp_path / "follow.err"
    with log.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "flowscope", "-s", str(store), "follow",
             f"s3://{bucket}/AWSLogs/", "--interval", "0.3s", "--inventory-every", "1s"],
            stderr=stderr,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 90
            while " opened, " not in log.read_text() and time.monotonic() < deadline:
                assert proc.poll() is None, log.read_text()
                time.sleep(0.3)
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)
    text = log.read_text()
    assert proc.returncode == 0, text
    assert "warning inventory refresh failed: " in text and "DescribeSubnets" in text
    assert "trying again later" in text
    assert " opened, 0 closed, 0 unchanged" in text
    assert "Traceback" not in text
    from flowscope.engines.duckdb.store import DuckStore
    from flowscope.estate.refresh import who

    assert who(DuckStore(store), web["address"])["identity"]["resource_id"] == web["id"]
