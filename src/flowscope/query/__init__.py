"""The query layer: questions asked of a store, answered as plain data."""
