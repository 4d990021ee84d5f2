"""Detections over flows: built-in rules that find scans, exposed services, brute force,
exfiltration, beacons, reject spikes, new services, listed addresses and unusual protocols.

::

    detect/
    ├── model.py    Alert, Rule, Options, Context (the memo of questions asked), filter helpers
    ├── rules.py    the built-in rules (RULES), each over the query layer's neutral model
    └── engine.py   detect(): the window and its baseline, every rule, then each alert dated

Rules only ask :class:`~flowscope.query.model.Backend` questions, so they run on every engine.
Alerts are not stored yet: a later step keeps them, deduplicated, and notifies.
"""

from __future__ import annotations

from flowscope.detect.engine import Detection, check_rules, detect
from flowscope.detect.model import SEVERITIES, Alert, Options, Rule
from flowscope.detect.rules import RULES

__all__ = ["RULES", "SEVERITIES", "Alert", "Detection", "Options", "Rule", "check_rules", "detect"]
