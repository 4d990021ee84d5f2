"""What the pipeline hands a store about a batch's endpoints (see :mod:`.resolve`).

Its own module, below everything else of the estate, so that the parser's ``Parsed`` can carry
it without the parser depending on the estate.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa


@dataclass
class BatchEndpoints:
    """The endpoints of one batch: the distinct (address, slot) pairs and their attributes, and
    per row the position of each side's pair in them."""

    addresses: pa.Array  # string, one per pair
    slots: pa.Array  # int32, one per pair
    attributes: pa.Table  # ATTRIBUTES, one row per pair
    src: pa.Array  # int32 per row (NULL: no address)
    dst: pa.Array
    scope: dict[str, pa.Array]  # src_scope / dst_scope per row

    def columns(self) -> dict[str, pa.Array]:
        """Every endpoint column per row (what a document store keeps)."""
        out: dict[str, pa.Array] = {}
        for side, index in (("src", self.src), ("dst", self.dst)):
            for name in self.attributes.column_names:
                out[f"{side}_{name}"] = self.attributes.column(name).take(index).combine_chunks()
            out[f"{side}_scope"] = self.scope[f"{side}_scope"]
        return out
