"""Small real stores for the query tests: written as flow-log files, loaded by the real ingest.

``FLOWS`` is a dozen hand-written records whose answers the tests spell out in full; ``many``
makes a few hundred varied records (every address form, NODATA rows) for property tests.
"""

from __future__ import annotations

import gzip
from pathlib import Path

from flowscope.engines.duckdb.store import DuckStore
from flowscope.pipeline import ingest
from flowscope.sources.files import local_units

HEADER = (
    "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes "
    "start end action log-status"
)
T0 = 1718000000  # 2024-06-10T06:13:20Z

# srcaddr dstaddr srcport dstport protocol packets bytes start-offset action
_ROWS = [
    ("eni-0a1", "10.0.1.5", "52.94.1.10", 40001, 443, 6, 10, 5000, 0, "ACCEPT"),
    ("eni-0a1", "10.0.1.5", "52.94.1.10", 40002, 443, 6, 20, 15000, 60, "ACCEPT"),
    ("eni-0a1", "10.0.1.6", "52.94.1.11", 40003, 443, 6, 5, 700, 120, "ACCEPT"),
    ("eni-0a2", "198.51.100.7", "10.0.2.9", 51000, 22, 6, 2, 120, 180, "REJECT"),
    ("eni-0a2", "198.51.100.7", "10.0.2.9", 51001, 3389, 6, 2, 120, 240, "REJECT"),
    ("eni-0a2", "203.0.113.9", "10.0.2.9", 52000, 22, 6, 40, 9000, 300, "ACCEPT"),
    ("eni-0a3", "10.0.3.3", "10.0.0.2", 53001, 53, 17, 1, 80, 360, "ACCEPT"),
    ("eni-0a3", "2600:1f18:1234::5", "2600:1f18:abcd::1", 443, 50000, 6, 8, 2400, 420, "ACCEPT"),
    ("eni-0a3", "::ffff:10.0.1.5", "2001:db8::7", 40004, 443, 6, 3, 300, 480, "ACCEPT"),
    ("eni-0b4", "10.1.0.1", "8.8.8.8", 40005, 123, 17, 1, 76, 3600, "ACCEPT"),
]
NODATA = f"2 123456789010 eni-0b4 - - - - - - - {T0 + 7200} {T0 + 7260} - NODATA"


def line(r: tuple[object, ...]) -> str:
    eni, src, dst, sport, dport, proto, pk, nbytes, off, action = r
    start = T0 + int(str(off))
    return (
        f"2 123456789010 {eni} {src} {dst} {sport} {dport} {proto} {pk} {nbytes} "
        f"{start} {start + 60} {action} OK"
    )


FLOWS = [line(r) for r in _ROWS] + [NODATA]


def make_store(tmp: Path, lines: list[str], name: str = "store.duckdb") -> Path:
    """A DuckDB store at ``tmp/name`` holding ``lines`` (default format, loaded by ingest)."""
    data = tmp / f"{name}.log.gz"
    with gzip.open(data, "wt") as f:
        f.write(HEADER + "\n" + "\n".join(lines) + "\n")
    path = tmp / name
    summary = ingest(local_units([str(data)]), DuckStore(path))
    assert summary.rows == len(lines) and summary.rejects == 0, summary
    return path


V6_FORMS = [
    "2600:1f18:1234::5",
    "2600:1F18:1234:0:0:0:0:9",
    "2600:1f18:abcd::1",
    "2001:db8::7",
    "::ffff:10.0.1.5",
    "::FFFF:a00:207",
    "0:0:0:0:0:ffff:c0a8:101",
    "::1",
    "::",
    "fe80::1%eth0",
    "64:ff9b::8.8.4.4",
    "1::",
]
V4 = ["10.0.1.5", "10.0.2.9", "10.0.0.0", "10.255.255.255", "172.16.0.1", "172.31.9.9",
      "172.32.0.1", "192.168.1.1", "0.0.0.0", "255.255.255.255", "8.8.8.8",
      "52.94.1.10"]  # fmt: skip


def many(n: int = 240) -> list[str]:
    """``n`` varied records (deterministic): every address form, both actions, NODATA rows."""
    addrs = V4 + V6_FORMS
    out = []
    for i in range(n):
        if i % 23 == 0:
            out.append(
                f"2 123456789010 eni-0c{i % 3} - - - - - - - {T0 + i} {T0 + i + 60} - NODATA"
            )
            continue
        src = addrs[(i * 7) % len(addrs)]
        dst = addrs[(i * 11 + 3) % len(addrs)]
        port = (22, 80, 443, 3389, 53, 8080, 0, 65535)[i % 8]
        proto = (6, 6, 6, 6, 17, 6, 1, 17)[i % 8]
        action = "REJECT" if i % 5 == 0 else "ACCEPT"
        out.append(
            f"2 123456789010 eni-0{'ab'[i % 2]}{i % 4} {src} {dst} {1024 + i} {port} {proto} "
            f"{1 + i % 13} {40 * (1 + i % 97)} {T0 + 60 * i} {T0 + 60 * i + 59} {action} OK"
        )
    return out


def test_the_data_loads(tmp_path: Path) -> None:
    assert make_store(tmp_path, many(50)).exists()


def test_a_list_is_one_cell_of_its_members_in_csv_and_tables() -> None:
    from flowscope import render

    text = render.to_csv(["src_security_groups", "n"], [(["sg-a", "sg-b"], 1), (None, 2)])
    assert text == "src_security_groups,n\nsg-a sg-b,1\n,2\n"
    assert render.cell(("sg-a",)) == "sg-a"
