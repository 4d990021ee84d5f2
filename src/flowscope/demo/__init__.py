"""Synthetic, realistic VPC Flow Logs for demos, tests and benchmarks (see ``generate``)."""
