"""Usage mistakes get Typer's usage message and exit 2; ``--version`` prints the version."""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from subprocess import CompletedProcess

import pytest

Cli = Callable[..., CompletedProcess[str]]


@pytest.mark.parametrize(
    ("args", "usage", "message"),
    [
        (["inventroy"], "Usage: flowscope [OPTIONS] COMMAND [ARGS]...", "No such command"),
        (["inventory", "fresh"], "Usage: flowscope inventory [OPTIONS]", "No such command"),
        (["top"], "Usage: flowscope top [OPTIONS]", "Missing argument 'field'"),
        (["--versions"], "Usage: flowscope [OPTIONS] COMMAND [ARGS]...", "No such option"),
        (
            ["top", "dstaddr", "--size", "many"],
            "Usage: flowscope top",
            "Invalid value for '-n' / '--size'",
        ),
        (
            ["sql", "select 1", "--row-cap", "0"],
            "Usage: flowscope sql",
            "Invalid value for '--row-cap'",
        ),
    ],
)
def test_usage_mistakes_show_usage_and_exit_2(
    cli: Cli, tmp_path: Path, args: list[str], usage: str, message: str
) -> None:
    r = cli("-s", str(tmp_path / "store.duckdb"), *args)
    assert r.returncode == 2, r.stderr
    assert usage in r.stderr
    assert "Try 'flowscope" in r.stderr and "--help' for help." in r.stderr
    assert message in r.stderr
    assert "unexpected error" not in r.stderr and "Traceback" not in r.stderr


def test_version(cli: Cli) -> None:
    r = cli("--version")
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"flowscope {version('flowscope')}\n"


@pytest.mark.parametrize(
    "url", ["opensearch://[::1", "opensearch://admin:s3cret@[::1/vpcflow", "elasticsearch://[x]"]
)
def test_an_unparseable_store_url_is_a_usage_error(cli: Cli, url: str) -> None:
    r = cli("-s", url, "top", "dstaddr")
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("error: store URL ")
    assert "unexpected error" not in r.stderr and "s3cret" not in r.stderr


def test_readme_lists_every_setting_as_declared() -> None:
    """Settings are declared once (flowscope.settings); the README's table is theirs."""
    from flowscope import settings
    from tests.conftest import run_flowscope

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    assert settings.table() in readme
    for s in settings.ALL:
        if s.flag:  # the flag exists and names its variable in --help
            command, flag = s.flag.rsplit(" ", 1) if " " in s.flag else ("", s.flag)
            shown = run_flowscope(*command.split(), "--help", env={"COLUMNS": "300"})
            assert flag in shown.stdout, s
            if command:
                assert s.env in shown.stdout, s


@pytest.mark.parametrize(
    "args",
    [
        ["sql", "--timeout", "1e12", "select 1"],
        ["sql", "--row-cap", "99999999999999999999999", "select 1"],
        ["loads", "-n", "-1"],
        ["rejects", "-n", "-1"],
        ["loads", "-n", "99999999999999999999"],
        ["follow", "s3://bucket/", "--interval", "0"],
    ],
)
def test_limits_out_of_range_are_usage_errors(args: list[str], tmp_path: Path) -> None:
    """Found by attacking the settings: these printed tracebacks or looped without pause."""
    from tests.conftest import run_flowscope

    r = run_flowscope(
        "-s", str(tmp_path / "s.duckdb"), *args, env={"AWS_MAX_ATTEMPTS": "1"}, timeout=60
    )
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and "unexpected error" not in r.stderr


def test_a_timeout_from_the_environment_is_bounded_too(tmp_path: Path) -> None:
    from tests.conftest import run_flowscope

    r = run_flowscope(
        "-s", str(tmp_path / "s.duckdb"), "sql", "select 1", env={"FLOWSCOPE_SQL_TIMEOUT": "inf"}
    )
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
