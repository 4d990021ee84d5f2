"""Your networks file: YAML and CSV, the most specific prefix wins, a bad file names its line."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from flowscope.errors import UsageError
from flowscope.estate.networks import load_networks

ADDRESSES = pa.array(
    ["10.20.1.5", "10.9.9.9", "192.168.1.1", "2001:db8:0:1::9", "::ffff:10.20.0.1"]
)


def test_yaml_names_and_attributes_most_specific_wins(tmp_path: Path) -> None:
    path = tmp_path / "networks.yaml"
    path.write_text(
        "# our networks\n"
        "10.0.0.0/8: corp\n"
        "10.20.0.0/16:\n"
        "  name: prod-db\n"
        "  site: eu-west-1\n"
        "  role: database\n"
        "2001:db8::/32:\n"
        "  name: v6-lab\n"
        "  tenant: lab\n"
    )
    networks = load_networks(path)
    assert networks.lookup(ADDRESSES).to_pydict() == {
        "network": ["prod-db", "corp", None, "v6-lab", "prod-db"],
        "role": ["database", None, None, None, "database"],
        "site": ["eu-west-1", None, None, None, "eu-west-1"],
        "tenant": [None, None, None, "lab", None],
    }


def test_csv_gives_the_same_answers(tmp_path: Path) -> None:
    path = tmp_path / "networks.csv"
    path.write_text(
        "cidr,name,site,role,tenant\n"
        "10.0.0.0/8,corp,,,\n"
        "10.20.0.0/16,prod-db,eu-west-1,database,\n"
        "# a comment line\n"
        "2001:db8::/32,v6-lab,,,lab\n"
    )
    assert load_networks(path).lookup(ADDRESSES).to_pydict() == {
        "network": ["prod-db", "corp", None, "v6-lab", "prod-db"],
        "role": ["database", None, None, None, "database"],
        "site": ["eu-west-1", None, None, None, "eu-west-1"],
        "tenant": [None, None, None, "lab", None],
    }


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("n.yaml", "10.0.0.0/8: a\n10.0.0.0/33: b\n", "n.yaml:2: '10.0.0.0/33' is not a CIDR"),
        ("n.yaml", "10.0.0.0/8: a\n10.1.0.0/8: b\n", "n.yaml:2: '10.1.0.0/8' is not a CIDR"),
        (
            "n.yaml",
            "10.0.0.0/8: a\n\n10.0.0.0/8: b\n",
            "n.yaml:3: 10.0.0.0/8 is already named on line 1",
        ),
        ("n.yaml", "10.0.0.0/8: a\n  b: [\n", "n.yaml:2: not valid YAML"),
        ("n.yaml", "- 10.0.0.0/8\n", "n.yaml:1: expected a mapping"),
        ("n.yaml", "10.0.0.0/8:\n  site: x\n", "n.yaml:1: 10.0.0.0/8 has no name"),
        ("n.yaml", "10.0.0.0/8:\n  name: a\n  site: [x]\n", "n.yaml:3: 10.0.0.0/8: attributes"),
        ("n.csv", "cidr,name\n10.0.0.0/8,a\nfoo,b\n", "n.csv:3: 'foo' is not a CIDR"),
        (
            "n.csv",
            "cidr,name\n10.0.0.0/8,a\n10.0.0.0/8,b\n",
            "n.csv:3: 10.0.0.0/8 is already named on line 2",
        ),
        ("n.csv", "cidr,name,site\n10.0.0.0/8,a\n", "n.csv:2: 2 fields where the header has 3"),
        ("n.csv", "network,name\n10.0.0.0/8,a\n", "n.csv:1: header"),
        ("n.csv", "cidr,name\n10.0.0.0/8,\n", "n.csv:2: 10.0.0.0/8 has no name"),
        ("n.json", "{}", "n.json: unknown format '.json'"),
    ],
)
def test_a_malformed_file_names_the_file_the_line_and_the_problem(
    tmp_path: Path, name: str, text: str, expected: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(UsageError) as caught:
        load_networks(path)
    message = str(caught.value)
    assert message.startswith(f"networks file {tmp_path}/{expected}"), message
    assert "nothing from this file was applied" in message


def test_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot be read"):
        load_networks(tmp_path / "absent.yaml")


def test_an_empty_yaml_file_names_nothing(tmp_path: Path) -> None:
    path = tmp_path / "empty.yml"
    path.write_text("# nothing yet\n")
    assert load_networks(path).lookup(pa.array(["10.0.0.1"])).to_pydict() == {"network": [None]}


def test_a_csv_saved_by_a_spreadsheet_with_a_bom_and_crlf_is_read(tmp_path: Path) -> None:
    path = tmp_path / "networks.csv"
    path.write_bytes(b'\xef\xbb\xbfcidr,name,site\r\n10.0.0.0/8,"corp, hq",par\r\n')
    assert load_networks(path).lookup(pa.array(["10.1.1.1"])).to_pydict() == {
        "network": ["corp, hq"],
        "site": ["par"],
    }


def test_ipv6_keys_in_yaml_and_the_same_network_written_two_ways(tmp_path: Path) -> None:
    path = tmp_path / "networks.yaml"
    path.write_text("::/0: everything\nfd00::/8: ula\n2001:db8::/32: a\n2001:0db8::/32: b\n")
    with pytest.raises(
        UsageError, match=r"networks.yaml:4: 2001:db8::/32 is already named on line 3"
    ):
        load_networks(path)
    path.write_text("::/0: everything\nfd00::/8: ula\n")
    got = load_networks(path).lookup(pa.array(["fd00::1", "2001:db8::1", "10.0.0.1"]))
    assert got.to_pydict() == {"network": ["ula", "everything", None]}
