"""The README's examples run as written: every marked code block of README.md, in order, against the
services `make run` starts (`python -m oco.cli run all`, embedded defaults, a fresh working directory).

The convention, for whoever edits README.md:

- A fenced block is tested when the line right before its opening fence is exactly
  `<!-- readme-test -->` (invisible on GitHub). Its language is `sh`/`bash`/`shell` (run with
  `bash -euo pipefail`) or `python` (run with this interpreter, `OPENAI_BASE_URL` unset).
- The blocks run in README order in one working directory, against services that are already running:
  `./data/oco.db` and the quick start's `./data/admin.key` exist there; state passes between blocks only
  through files (e.g. `K="X-API-Key: $(cat data/admin.key)"` again in each block). Do not mark blocks
  that start servers (`make run`) or need outside services (clouds, clusters, provider keys).
- `localhost:8080`/`:8081`/`:8082` (and `127.0.0.1:...`) are rewritten to the ports the test chose,
  `.venv/bin/oco` is this interpreter's `oco`, and the CLI's `--url` defaults follow those ports.
- Every block must exit 0. A line ending in `# => <text>` (a comment in both languages: after a command,
  or a comment line of its own under it) also requires `<text>` in that block's standard output; the
  expectations of a block must be found in the order they are written, each after the previous one (so
  three whoami lines expecting the same name need three answers). Put one on each command whose answer
  matters, e.g. `curl ... /whoami   # economist  # => "name":"quick-start admin"`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.run_services import DEFAULT_PORTS, REPO, RunningServices, new_user_env, run_services

README = REPO / "README.md"
MARKER = "<!-- readme-test -->"
LANGUAGES = {"sh": "bash", "bash": "bash", "shell": "bash", "python": "python", "py": "python"}
EXPECT = re.compile(r"#\s*=>\s*(?P<text>.+?)\s*$")
ADDRESS = re.compile(r"\b(?P<host>localhost|127\.0\.0\.1):(?P<port>808[0-2])\b")
BLOCK_TIMEOUT_S = 60
#: what the platform issue requires the tested blocks to show, as text some marked block contains
REQUIRED_EXAMPLES = {
    "key creation": "oco keys create",
    "whoami": "/api/v1/whoami",
    "demo load": "oco demo load",
    "an economist query": "/api/v1/costs",
    "a chat call through the openai SDK": "openai",
}


@dataclass(frozen=True)
class Block:
    """One marked code block: where it starts in README.md, its language and its text."""

    line: int
    language: str
    text: str

    @property
    def expected(self) -> list[str]:
        """The `# => <text>` expectations, in order."""
        return [m.group("text") for line in self.text.splitlines() if (m := EXPECT.search(line))]


def marked_blocks(markdown: str) -> list[Block]:
    """Every fenced block preceded by the marker line; a marker without a block right after is an error."""
    lines = markdown.splitlines()
    blocks: list[Block] = []
    for index, line in enumerate(lines):
        if line.strip() != MARKER:
            continue
        fence = lines[index + 1].strip() if index + 1 < len(lines) else ""
        language = fence[3:].strip().lower()
        if not fence.startswith("```") or language not in LANGUAGES:
            raise AssertionError(
                f"README.md line {index + 1}: {MARKER} must be followed by a ```sh or ```python block, "
                f"not {fence!r}"
            )
        body: list[str] = []
        for end in range(index + 2, len(lines)):
            if lines[end].strip() == "```":
                break
            body.append(lines[end])
        else:
            raise AssertionError(f"README.md line {index + 2}: the block never closes")
        blocks.append(Block(index + 2, LANGUAGES[language], "\n".join(body) + "\n"))
    return blocks


def unmatched(expected: list[str], stdout: str) -> list[str]:
    """The expectations not found in `stdout` in order (each searched after the previous match)."""
    position = 0
    for index, text in enumerate(expected):
        found = stdout.find(text, position)
        if found < 0:
            return expected[index:]
        position = found + len(text)
    return []


def for_services(text: str, services: RunningServices) -> str:
    """The block with the README's default ports replaced by the ones the services listen on."""
    by_default = {str(port): services.ports[name] for name, port in DEFAULT_PORTS.items()}
    return ADDRESS.sub(lambda m: f"{m.group('host')}:{by_default[m.group('port')]}", text)


def oco_script() -> Path | None:
    """The `oco` console script installed beside this interpreter (as in .venv/bin/oco), if any."""
    script = Path(sys.executable).with_name("oco")
    return script if script.exists() else None


def link_venv_oco(workdir: Path) -> None:
    """Make the README's `.venv/bin/oco` resolve in `workdir`: the installed script, or a wrapper."""
    target = workdir / ".venv" / "bin" / "oco"
    target.parent.mkdir(parents=True)
    script = oco_script()
    if script is not None:
        target.symlink_to(script)
    else:
        target.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m oco.cli "$@"\n')
        target.chmod(0o755)


def run_block(block: Block, services: RunningServices, scripts: Path, number: int) -> None:
    text = for_services(block.text, services)
    suffix = ".sh" if block.language == "bash" else ".py"
    script = scripts / f"block-{number:02d}-line-{block.line}{suffix}"
    script.write_text(text)
    command = (
        ["bash", "-euo", "pipefail", str(script)]
        if block.language == "bash"
        else [sys.executable, str(script)]
    )
    env = new_user_env(
        {
            "OCO_ECONOMIST_URL": services.url("economist"),  # the CLI's defaults, on the chosen ports
            "OCO_AEGIS_URL": services.url("aegis"),
        }
    )
    try:
        done = subprocess.run(
            command, cwd=services.cwd, env=env, capture_output=True, text=True, timeout=BLOCK_TIMEOUT_S
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"README.md block at line {block.line} ran over {BLOCK_TIMEOUT_S} s:\n{text}\n{exc}")
    missing = unmatched(block.expected, done.stdout)
    if done.returncode != 0 or missing:
        problem = f"exited with {done.returncode}" if done.returncode else f"printed none of {missing}"
        pytest.fail(
            f"README.md block {number} (line {block.line}, {block.language}) {problem}\n"
            f"--- block (as run) ---\n{text}--- stdout ---\n{done.stdout}\n--- stderr ---\n{done.stderr}\n"
            f"{services.output()}",
            pytrace=False,
        )


def test_marked_blocks_cover_what_the_issue_requires() -> None:
    blocks = marked_blocks(README.read_text(encoding="utf-8"))
    text = "\n".join(block.text for block in blocks)
    missing = [what for what, snippet in REQUIRED_EXAMPLES.items() if snippet not in text]
    assert not missing, f"no {MARKER} block in README.md shows {missing}"
    assert any(block.language == "python" for block in blocks), "no tested python block"


def test_marker_parsing_and_port_rewriting() -> None:
    readme = f"text\n{MARKER}\n```sh\ncurl localhost:8081/x   # => ok\n```\n```sh\nnot marked\n```\n"
    [block] = marked_blocks(readme)
    assert (block.line, block.language, block.expected) == (3, "bash", ["ok"])
    services = RunningServices(None, {"cerebra": 1, "economist": 2, "aegis": 3}, REPO, REPO, REPO)  # type: ignore[arg-type]
    assert for_services("http://127.0.0.1:8080/v1 localhost:8082 :80800", services) == (
        "http://127.0.0.1:1/v1 localhost:3 :80800"
    )
    assert unmatched(["a", "a", "b"], "a b a") == ["b"] and unmatched(["a", "b"], "xaxb") == []
    with pytest.raises(AssertionError, match="must be followed"):
        marked_blocks(f"{MARKER}\n\n```sh\nx\n```\n")


def test_readme_examples_run_as_written(tmp_path: Path) -> None:
    for tool in ("bash", "curl"):
        if shutil.which(tool) is None:
            pytest.skip(f"the README's shell examples need {tool}")
    blocks = marked_blocks(README.read_text(encoding="utf-8"))
    assert blocks, f"README.md has no {MARKER} blocks"
    workdir, scripts = tmp_path / "quickstart", tmp_path / "blocks"
    workdir.mkdir()
    scripts.mkdir()
    link_venv_oco(workdir)
    with run_services(workdir, "all", logs=tmp_path) as services:
        assert (workdir / "data" / "admin.key").exists(), services.output()
        for number, block in enumerate(blocks, start=1):
            run_block(block, services, scripts, number)
