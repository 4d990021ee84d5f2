"""flowscope: AWS VPC Flow Logs, read, stored typed and queried."""

__version__ = "0.1.0"
