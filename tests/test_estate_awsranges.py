"""AWS's ip-ranges.json: service and region of an address, the most specific range winning."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from flowscope.errors import SourceError, UsageError
from flowscope.estate.awsranges import fetch_ip_ranges, load_ip_ranges, parse_ip_ranges

DOC = {
    "syncToken": "1732953600",
    "createDate": "2026-11-30-08-00-00",
    "prefixes": [
        {
            "ip_prefix": "52.94.0.0/16",
            "region": "eu-west-1",
            "network_border_group": "eu-west-1",
            "service": "AMAZON",
        },
        {
            "ip_prefix": "52.94.76.0/22",
            "region": "eu-west-1",
            "network_border_group": "eu-west-1",
            "service": "AMAZON",
        },
        {
            "ip_prefix": "52.94.76.0/22",
            "region": "eu-west-1",
            "network_border_group": "eu-west-1",
            "service": "S3",
        },
        {
            "ip_prefix": "52.94.76.0/22",
            "region": "eu-west-1",
            "network_border_group": "eu-west-1",
            "service": "EC2",
        },
        {
            "ip_prefix": "3.248.0.0/13",
            "region": "eu-west-1",
            "network_border_group": "eu-west-1",
            "service": "EC2",
        },
        {
            "ip_prefix": "3.248.0.0/13",
            "region": "eu-west-1",
            "network_border_group": "eu-west-1",
            "service": "AMAZON",
        },
        {
            "ip_prefix": "3.248.0.0/24",
            "region": "eu-west-1",
            "network_border_group": "eu-west-1",
            "service": "AMAZON",
        },
        {
            "ip_prefix": "13.32.0.0/15",
            "region": "GLOBAL",
            "network_border_group": "GLOBAL",
            "service": "CLOUDFRONT",
        },
    ],
    "ipv6_prefixes": [
        {
            "ipv6_prefix": "2a05:d000::/25",
            "region": "eu-west-1",
            "network_border_group": "eu-west-1",
            "service": "AMAZON",
        },
        {
            "ipv6_prefix": "2a05:d07a:a000::/40",
            "region": "eu-west-1",
            "network_border_group": "eu-west-1",
            "service": "S3",
        },
    ],
}


def write(tmp_path: Path, doc: object) -> Path:
    path = tmp_path / "ip-ranges.json"
    path.write_text(json.dumps(doc))
    return path


def test_service_and_region_most_specific_wins(tmp_path: Path) -> None:
    ranges = load_ip_ranges(write(tmp_path, DOC))
    assert ranges.sync_token == "1732953600"
    assert ranges.created == datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    got = ranges.lookup(
        pa.array(
            [
                "52.94.76.12",  # S3 over EC2 over AMAZON, same /22
                "52.94.1.1",  # AMAZON only
                "3.248.0.9",  # an AMAZON /24 inside an EC2 /13: the longer prefix wins
                "3.249.1.1",  # EC2 over AMAZON
                "13.33.0.1",
                "2a05:d07a:a000::1",
                "2a05:d000::1",
                "::ffff:52.94.76.12",
                "8.8.8.8",
            ]
        )
    )
    assert got.to_pydict() == {
        "service": ["S3", "AMAZON", "AMAZON", "EC2", "CLOUDFRONT", "S3", "AMAZON", "S3", None],
        "region": [
            "eu-west-1",
            "eu-west-1",
            "eu-west-1",
            "eu-west-1",
            "GLOBAL",
            "eu-west-1",
            "eu-west-1",
            "eu-west-1",
            None,
        ],
        "network_border_group": [
            "eu-west-1",
            "eu-west-1",
            "eu-west-1",
            "eu-west-1",
            "GLOBAL",
            "eu-west-1",
            "eu-west-1",
            "eu-west-1",
            None,
        ],
        "services": [
            ["S3", "EC2", "AMAZON"],
            ["AMAZON"],
            ["AMAZON"],
            ["EC2", "AMAZON"],
            ["CLOUDFRONT"],
            ["S3"],
            ["AMAZON"],
            ["S3", "EC2", "AMAZON"],
            None,
        ],
    }


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("<html>rate limited</html>", "not JSON"),
        ("[]", "expected a JSON object, got list"),
        ('{"prefixes": []}', "missing syncToken"),
        ('{"syncToken": "1", "prefixes": {}}', "prefixes is not a list"),
        ('{"syncToken": "1", "prefixes": [1]}', r"prefixes\[0\] is not an object"),
        (
            '{"syncToken": "1", "prefixes": [{"ip_prefix": "1.2.3.0/24", "region": "x"}]}',
            r"prefixes\[0\]: service missing",
        ),
        (
            '{"syncToken": "1", "prefixes": [{"ip_prefix": "1.2.3.4/24", "region": "x",'
            ' "service": "S3"}]}',
            r"prefixes\[0\]: '1.2.3.4/24' is not a CIDR",
        ),
        (
            '{"syncToken": "1", "prefixes": [], "ipv6_prefixes": [{"ipv6_prefix": "1.2.3.0/24",'
            ' "region": "x", "service": "S3"}]}',
            r"ipv6_prefixes\[0\]: 1.2.3.0/24 is not an IPv6 prefix",
        ),
        ('{"syncToken": "1", "createDate": "yesterday", "prefixes": []}', "createDate"),
    ],
)
def test_an_invalid_file_is_a_clear_error(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "ip-ranges.json"
    path.write_text(content)
    with pytest.raises(UsageError, match=f"^AWS ip-ranges {path}: {expected}"):
        load_ip_ranges(path)


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot be read"):
        load_ip_ranges(tmp_path / "nope.json")


class _Handler(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(type(self).body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, type[_Handler]]]:
    handler = type("Handler", (_Handler,), {})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/ip-ranges.json", handler
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def test_refresh_replaces_the_copy_only_with_a_valid_download(
    tmp_path: Path, server: tuple[str, type[_Handler]]
) -> None:
    url, handler = server
    dest = tmp_path / "store" / "ip-ranges.json"
    handler.body = json.dumps(DOC).encode()
    ranges = fetch_ip_ranges(dest, url)
    assert ranges.lookup(pa.array(["52.94.76.12"])).column("service").to_pylist() == ["S3"]
    assert json.loads(dest.read_text()) == DOC

    handler.body = b"<html>Service Unavailable</html>"
    with pytest.raises(UsageError, match="not JSON"):
        fetch_ip_ranges(dest, url)
    assert json.loads(dest.read_text()) == DOC
    assert sorted(p.name for p in dest.parent.iterdir()) == ["ip-ranges.json"]


def test_refresh_when_unreachable_keeps_the_copy(tmp_path: Path) -> None:
    dest = write(tmp_path, DOC)
    with pytest.raises(SourceError, match="cannot fetch AWS ip-ranges") as caught:
        fetch_ip_ranges(dest, "http://127.0.0.1:9/ip-ranges.json", timeout=5)
    assert caught.value.transient
    assert "is kept" in str(caught.value)
    assert json.loads(dest.read_text()) == DOC


def test_the_same_answers_from_a_parsed_string() -> None:
    ranges = parse_ip_ranges(json.dumps(DOC))
    assert ranges.lookup(pa.array(["13.32.1.1"])).column("service").to_pylist() == ["CLOUDFRONT"]
