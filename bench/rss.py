"""Peak RSS of a command, measured honestly: through a small launcher process.

A child's ``ru_maxrss`` starts at its parent's size, because Linux carries the high-water mark
of the forked image across ``exec``; a benchmark that has imported DuckDB and generated its
data would add its own hundreds of MiB to every figure. So the command is started by a bare
Python launcher (about 10 MiB), which waits for it and reports its ``ru_maxrss``.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass

LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(usage.ru_maxrss * 1024, os.waitstatus_to_exitcode(status))
"""


@dataclass
class Run:
    seconds: float
    peak_rss: int  # bytes
    returncode: int
    stderr: str


def run(cmd: list[str]) -> Run:
    """Run ``cmd`` (an absolute program path first), its stdout discarded."""
    t = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", LAUNCHER, *cmd], capture_output=True, text=True, check=True
    )
    elapsed = time.perf_counter() - t
    peak, code = (int(x) for x in proc.stdout.split())
    return Run(elapsed, peak, code, proc.stderr)
