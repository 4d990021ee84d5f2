from __future__ import annotations

import pytest

from flowscope.errors import UsageError
from flowscope.parse.layout import DEFAULT_LAYOUT, header_layout, parse_log_format
from flowscope.schema import BY_NAME, DEFAULT_FORMAT, FIELDS


def test_default_format_is_the_14_v2_fields() -> None:
    assert parse_log_format(DEFAULT_FORMAT).names == DEFAULT_LAYOUT.names
    assert len(DEFAULT_LAYOUT.names) == 14
    assert [f.name for f in FIELDS if f.version == 2] == list(DEFAULT_LAYOUT.names)


def test_catalogue_counts_match_the_reference() -> None:
    # vpc-flow-logs.md 1.11: through v5 = 29, through v10 = 42 (+ v7's 10), v11 adds 12; v6 18.
    by_version: dict[int, int] = {}
    for f in FIELDS:
        by_version[f.version] = by_version.get(f.version, 0) + 1
    assert by_version == {2: 14, 3: 7, 4: 4, 5: 4, 6: 18, 7: 10, 8: 1, 9: 1, 10: 1, 11: 12}
    assert BY_NAME["log-status"].column == "log_status"
    assert BY_NAME["pkt-src-aws-service"].column == "pkt_src_aws_service"


def test_custom_format_any_order() -> None:
    layout = parse_log_format("${srcaddr}  ${version} ${tcp-flags}")
    assert layout.names == ("srcaddr", "version", "tcp-flags")
    assert layout.origin == "--format"


@pytest.mark.parametrize(
    ("fmt", "message"),
    [
        ("${version} ${dstprot}", "unknown field ${dstprot} (did you mean ${dstport}?)"),
        ("${version} srcaddr", "--format: unexpected text 'srcaddr' at column 11"),
        ("${version} ${version}", "--format: field ${version} appears twice"),
        ("   ", "--format is empty"),
        ("version srcaddr", "--format: unexpected text 'version srcaddr'"),
    ],
)
def test_bad_formats_explain_themselves(fmt: str, message: str) -> None:
    with pytest.raises(UsageError) as e:
        parse_log_format(fmt)
    assert message in str(e.value)


def test_header_line_detection() -> None:
    h = header_layout(
        "version account-id interface-id srcaddr dstaddr srcport dstport protocol "
        "packets bytes start end action log-status"
    )
    assert h is not None and h.names == DEFAULT_LAYOUT.names and h.unknown == ()
    # A record of a format made only of ids looks like names but names no known field.
    assert header_layout("vpc-0abc subnet-12ab") is None
    assert header_layout("2 123456789010 eni-1 - - - - - - - 1 2 - NODATA") is None
    newer = header_layout("version srcaddr dstaddr future-field")
    assert newer is not None and newer.unknown == ("future-field",)
