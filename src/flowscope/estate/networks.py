"""Your own networks: a YAML or CSV file naming CIDRs, the most specific prefix winning.

The file maps each CIDR to a name and any attributes (site, tenant, role, ...), like
Akvorado's ``networks``::

    # networks.yaml
    10.0.0.0/8: corp                 # a name alone
    10.20.0.0/16:
      name: prod-db
      site: eu-west-1
      role: database

    # networks.csv: a header line; ``cidr`` and ``name`` first, any further columns attributes
    cidr,name,site,role
    10.0.0.0/8,corp,,
    10.20.0.0/16,prod-db,eu-west-1,database

The format comes from the suffix (``.yaml``/``.yml``, ``.csv``). The whole file is checked
before anything is returned: a bad CIDR (or one with host bits set), the same network twice, a
missing name, an unknown attribute shape, a YAML syntax error or an unknown format is a
:class:`~flowscope.errors.UsageError` naming the file, the line and what is wrong, so a caller
never holds a half-read table.
"""

from __future__ import annotations

import csv
import functools
import io
import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import yaml

from flowscope.errors import UsageError
from flowscope.estate.prefixes import Network, PrefixTable


@dataclass(frozen=True)
class NamedNetwork:
    """One line of the networks file."""

    network: Network
    name: str
    attributes: dict[str, str] = field(default_factory=dict)
    line: int = 0


class NetworksError(UsageError):
    """A networks file that cannot be used; names the file and the line."""

    def __init__(self, path: Path, line: int | None, message: str) -> None:
        where = f"{path}:{line}" if line else str(path)
        super().__init__(
            f"networks file {where}: {message}",
            hint="nothing from this file was applied; fix it and load it again",
        )
        self.path = path
        self.line = line


class Networks:
    """The named networks of one file, with a longest-prefix-match lookup."""

    def __init__(self, entries: list[NamedNetwork], source: Path | None = None) -> None:
        self.entries = entries
        self.source = source
        self.attribute_names = sorted({k for e in entries for k in e.attributes})
        self._table = PrefixTable([e.network for e in entries])

    def lookup(self, addresses: pa.Array | pa.ChunkedArray) -> pa.Table:
        """Per address: ``network`` (the name) and one column per attribute; null if none."""
        return self.columns.take(self._table.lookup(addresses))

    @functools.cached_property
    def columns(self) -> pa.Table:
        """One row per network (built once: a lookup is then one ``take``)."""
        columns = {"network": pa.array([e.name for e in self.entries], pa.string())}
        for key in self.attribute_names:
            columns[key] = pa.array([e.attributes.get(key) for e in self.entries], pa.string())
        return pa.table(columns)


def load_networks(path: str | Path) -> Networks:
    """Read and check a networks file; see the module docstring for the formats."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".yaml", ".yml", ".csv"):
        raise NetworksError(
            path, None, f"unknown format {suffix or '(no suffix)'!r}; expected .yaml, .yml or .csv"
        )
    try:
        text = path.read_text(encoding="utf-8-sig")  # a spreadsheet's CSV starts with a BOM
    except (OSError, UnicodeDecodeError) as e:
        raise NetworksError(path, None, f"cannot be read: {e}") from e
    return parse_networks(text, path)


def parse_networks(text: str, path: str | Path) -> Networks:
    """Check and index the text of a networks file; ``path`` names it (its suffix: the format)."""
    path = Path(path)
    suffix = path.suffix.lower()
    raw = _read_csv(path, text) if suffix == ".csv" else _read_yaml(path, text)
    entries: list[NamedNetwork] = []
    seen: dict[Network, int] = {}
    for line, cidr, name, attributes in raw:
        try:
            network = ipaddress.ip_network(cidr.strip(), strict=True)
        except ValueError as e:
            raise NetworksError(path, line, f"{cidr!r} is not a CIDR ({e})") from e
        if network in seen:
            raise NetworksError(path, line, f"{network} is already named on line {seen[network]}")
        if not name.strip():
            raise NetworksError(path, line, f"{network} has no name")
        seen[network] = line
        entries.append(NamedNetwork(network, name.strip(), attributes, line))
    return Networks(entries, path)


_Raw = list[tuple[int, str, str, dict[str, str]]]


def _read_csv(path: Path, text: str) -> _Raw:
    reader = csv.reader(io.StringIO(text))
    header: list[str] | None = None
    rows: _Raw = []
    for row in reader:
        line = reader.line_num
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        if header is None:
            header = [h.strip().lower() for h in row]
            if header[:2] != ["cidr", "name"]:
                raise NetworksError(
                    path, line, f"header {row!r}: expected 'cidr,name' then any attributes"
                )
            if len(set(header)) != len(header):
                raise NetworksError(path, line, f"header {row!r} repeats a column")
            continue
        if len(row) != len(header):
            raise NetworksError(path, line, f"{len(row)} fields where the header has {len(header)}")
        attributes = {k: v.strip() for k, v in zip(header[2:], row[2:], strict=True) if v.strip()}
        rows.append((line, row[0], row[1], attributes))
    if header is None:
        raise NetworksError(path, None, "is empty; expected a 'cidr,name' header line")
    return rows


def _scalar(node: yaml.Node) -> str | None:
    if isinstance(node, yaml.ScalarNode):
        return str(node.value)
    return None


def _read_yaml(path: Path, text: str) -> _Raw:
    try:
        # libyaml's loader when the build has it (about 10x faster), with the same line marks.
        root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise NetworksError(path, line, f"not valid YAML: {problem}") from e
    if root is None:
        return []
    if not isinstance(root, yaml.MappingNode):
        raise NetworksError(
            path, root.start_mark.line + 1, "expected a mapping of CIDR to name or attributes"
        )
    rows: _Raw = []
    for key_node, value_node in root.value:
        line = key_node.start_mark.line + 1
        cidr = _scalar(key_node)
        if cidr is None:
            raise NetworksError(path, line, "a key that is not a CIDR")
        value = _scalar(value_node)
        if value is not None:
            rows.append((line, cidr, value, {}))
            continue
        if not isinstance(value_node, yaml.MappingNode):
            raise NetworksError(path, line, f"{cidr}: expected a name or a mapping of attributes")
        attributes: dict[str, str] = {}
        name = ""
        for attr_key, attr_value in value_node.value:
            key, text_value = _scalar(attr_key), _scalar(attr_value)
            if key is None or text_value is None:
                raise NetworksError(
                    path, attr_key.start_mark.line + 1, f"{cidr}: attributes must be plain values"
                )
            if key in attributes or (key == "name" and name):
                raise NetworksError(
                    path, attr_key.start_mark.line + 1, f"{cidr}: attribute {key!r} given twice"
                )
            if key == "cidr":
                raise NetworksError(
                    path, attr_key.start_mark.line + 1, f"{cidr}: 'cidr' is not an attribute"
                )
            if key == "name":
                name = text_value
            else:
                attributes[key] = text_value
        if not name:
            raise NetworksError(path, line, f"{cidr} has no name")
        rows.append((line, cidr, name, attributes))
    return rows
