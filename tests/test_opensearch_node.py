"""Real single-node clusters for the test session, shared by every module that needs one.

:func:`node` starts ``scripts/cluster-node ENGINE`` (OpenSearch 2.19 or Elasticsearch 7.10) once
per session and engine on a free loopback port (its data in a temporary folder) and stops it
when pytest ends; modules wrap it in a session fixture parametrised over :data:`ENGINES`, so each
cluster test runs against both. ``FLOWSCOPE_TEST_ENGINES=opensearch`` (comma-separated) runs
fewer; ``FLOWSCOPE_TEST_OPENSEARCH_PORT`` / ``FLOWSCOPE_TEST_ELASTICSEARCH_PORT`` point the tests
at a node already running on that loopback port instead (for quick runs while developing). The
only reason to skip is a missing Java: anything else that keeps a node from starting is a test
failure, so CI cannot pass without really running against both engines. Each test gets its own
store name (:func:`fresh_name`), and :func:`drop` removes what a test created.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from opensearchpy import OpenSearch

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "cluster-node"
START_TIMEOUT = 240
#: The engines every cluster test runs against.
ENGINES = tuple(
    e.strip()
    for e in os.environ.get("FLOWSCOPE_TEST_ENGINES", "opensearch,elasticsearch").split(",")
    if e.strip()
)


@dataclass
class Node:
    port: int
    data: Path
    engine: str = "opensearch"

    @property
    def url(self) -> str:
        return f"{self.engine}://127.0.0.1:{self.port}"

    def client(self) -> OpenSearch:
        return OpenSearch(hosts=[{"host": "127.0.0.1", "port": self.port}], timeout=60)

    def stop(self) -> None:
        subprocess.run(
            [str(SCRIPT), self.engine, "stop", "--port", str(self.port)],
            capture_output=True,
            timeout=90,
            check=False,
        )
        shutil.rmtree(self.data, ignore_errors=True)


_NODES: dict[str, Node] = {}


def _java() -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def node(config: pytest.Config, engine: str = "opensearch") -> Node:
    """The session's node of ``engine``, started on first use and stopped when the session ends."""
    if engine in _NODES:
        return _NODES[engine]
    env_name = engine.upper()
    reuse = os.environ.get(f"FLOWSCOPE_TEST_{env_name}_PORT")
    if reuse:  # a node someone else started (and stops): for quick runs while developing
        _NODES[engine] = Node(int(reuse), Path(tempfile.gettempdir()), engine)
        return _NODES[engine]
    if _java() is None:
        pytest.skip(
            f"SKIPPED: the {engine} tests need Java 17+ to run a real node "
            "(apt-get install openjdk-17-jre-headless); CI must have it"
        )
    port = _free_port()
    data = Path(tempfile.mkdtemp(prefix=f"flowscope-{engine}-"))
    env = {**os.environ, f"{env_name}_START_TIMEOUT": str(START_TIMEOUT)}
    env.setdefault(f"{env_name}_JAVA_OPTS", "-Xms512m -Xmx512m")
    started = Node(port, data, engine)
    proc = subprocess.run(
        [str(SCRIPT), engine, "start", "--port", str(port), "--data", str(data)],
        capture_output=True,
        text=True,
        env=env,
        timeout=START_TIMEOUT + 600,  # a first build resolves jars from Maven Central
        check=False,
    )
    if proc.returncode != 0:
        started.stop()
        pytest.fail(
            f"could not start {engine} with {SCRIPT.name}:\n{proc.stdout}\n{proc.stderr}",
            pytrace=False,
        )
    config.add_cleanup(started.stop)
    _NODES[engine] = started
    return started


def fresh_name() -> str:
    return "t" + uuid.uuid4().hex[:10]


def drop(n: Node, name: str) -> None:
    """Delete a test store's indices and template."""
    client = n.client()
    try:
        client.indices.delete(index=f"{name}-*", ignore_unavailable=True, expand_wildcards="all")
        client.indices.delete_index_template(name=f"{name}-flowscope", ignore=[404])
    finally:
        client.close()


@pytest.fixture(scope="session", params=ENGINES)
def os_node(request: pytest.FixtureRequest) -> Node:
    return node(request.config, request.param)


@pytest.mark.opensearch
def test_the_node_is_a_real_cluster_of_its_engine(os_node: Node) -> None:
    client = os_node.client()
    try:
        info = client.info()
    finally:
        client.close()
    if os_node.engine == "opensearch":
        assert info["version"]["distribution"] == "opensearch"
        assert int(info["version"]["number"].split(".")[0]) >= 2
    else:
        assert "distribution" not in info["version"]
        assert info["version"]["number"] == "7.10.2"
        assert info["tagline"] == "You Know, for Search"
