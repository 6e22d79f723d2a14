"""README.md's shell blocks run as printed, against `make run`, as a newcomer would run them.

Every ```sh block runs, in the README's order and in one shell (variables set by one
block are used by the next), unless the line above it is `<!-- not run: why -->`. The
demo is served by `make run` itself on its port, 8000, with a throwaway SQLite file (the
blocks' `make manage` reaches the same file through DATABASE_URL).
"""

import os
import re
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from django.conf import settings

from tests.processes import free_port, project_env

README = Path(settings.BASE_DIR) / "README.md"
PORT = 8000
BLOCK = re.compile(r"^(?P<above>[^\n]*)\n```sh\n(?P<body>.*?)^```$", re.MULTILINE | re.DOTALL)
NOT_RUN = re.compile(r"^<!-- not run: (?P<why>.+) -->$")
# A block that shows a refusal on purpose.
REFUSAL_SHOWN = "<!-- answers a refusal -->"
# What an API answers when a command in a block went wrong although curl exited 0.
REFUSALS = ('"error":', '"errors":', '"detail":', "Traceback")


def readme_blocks() -> list[tuple[int, str, str | None, bool]]:
    """(line, body, reason not run, shows a refusal) of each ```sh block of README.md."""
    text = README.read_text()
    blocks = []
    for match in BLOCK.finditer(text):
        line = text.count("\n", 0, match.start("body"))
        above = match["above"].strip()
        not_run = NOT_RUN.match(above)
        why = not_run["why"] if not_run else None
        blocks.append((line, match["body"], why, above == REFUSAL_SHOWN))
    return blocks


def test_every_shell_block_is_one_the_test_finds():
    # Another fence would be neither run nor said not to run.
    assert not re.findall(r"^```(?:bash|shell|console|zsh)$", README.read_text(), re.MULTILINE)


def test_every_block_is_run_or_says_why_not():
    blocks = readme_blocks()
    assert len(blocks) >= 15
    for line, _body, why, _refusal in blocks:
        assert why is None or len(why) > 10, f"README.md:{line}: say why the block is not run"


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


@contextmanager
def served_by_make_run(port: int, database: Path, *args: str) -> Iterator[dict[str, str]]:
    """`make run *args` with a throwaway database, answering on `port`; stopped afterwards.
    Yields the environment it runs in."""
    if not _port_is_free(port):
        pytest.fail(f"Port {port} is taken: `make run` serves there.")
    # Not the outer make's flags (`make test PORT=…` would reach `make run` through them).
    env = {
        name: value
        for name, value in project_env(DATABASE_URL=f"sqlite:///{database}").items()
        if name not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES"}
    }
    with tempfile.TemporaryFile() as log:
        yield from _serve(port, env, log, args)


def _serve(port: int, env: dict[str, str], log, args) -> Iterator[dict[str, str]]:
    server = subprocess.Popen(  # noqa: S603
        ["make", "run", *args],  # noqa: S607
        cwd=settings.BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    discovery = f"http://127.0.0.1:{port}/identity_/.well-known/openid-configuration"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if requests.get(discovery, timeout=2).ok:
                    break
            except (requests.ConnectionError, requests.Timeout):  # workers still booting
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                pytest.fail(f"make run did not serve:\n{log.read().decode()[-3000:]}")
            time.sleep(0.3)
        yield env
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def test_make_run_serves_on_the_port_it_is_given_with_its_issuer(tmp_path):
    port = free_port()
    with served_by_make_run(port, tmp_path / "db.sqlite3", f"PORT={port}"):
        document = requests.get(
            f"http://127.0.0.1:{port}/identity_/.well-known/openid-configuration", timeout=5
        ).json()
    assert document["issuer"] == f"http://127.0.0.1:{port}/identity_"
    assert document["token_endpoint"] == f"http://127.0.0.1:{port}/identity_/connect/token"


@pytest.fixture
def make_run(tmp_path):
    """The demo as the README starts it: `make run`, on its default port."""
    with served_by_make_run(PORT, tmp_path / "readme.sqlite3") as env:
        yield env


def test_readme_blocks_run_as_printed(make_run):
    # given: the blocks to run, each announced so a failure names its line
    script = ["set -euo pipefail"]
    for line, body, why, _refusal in readme_blocks():
        if why is None:
            script += [f"echo; echo '>>> README.md:{line}'", body]
    # when
    result = subprocess.run(  # noqa: S603
        ["bash", "-c", "\n".join(script)],  # noqa: S607
        cwd=settings.BASE_DIR,
        env=make_run,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    # then: every block ran to its end, and no answer was a refusal
    output = result.stdout + result.stderr
    ran = re.split(r">>> (README\.md:\d+)\n", result.stdout)[1:]
    outputs = dict(zip(ran[::2], ran[1::2], strict=True))
    assert result.returncode == 0, f"{list(outputs)[-1:]} failed:\n{output[-4000:]}"
    run = {f"README.md:{line}": refusal for line, _, why, refusal in readme_blocks() if not why}
    assert list(outputs) == list(run)
    for block, printed in outputs.items():
        if run[block]:
            assert any(r in printed for r in REFUSALS), f"{block} shows no refusal:\n{printed}"
            continue
        for refusal in REFUSALS:
            assert refusal not in printed, f"{block} was answered with a refusal:\n{printed}"
