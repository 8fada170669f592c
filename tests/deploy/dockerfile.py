"""A small reader of deploy/docker/Dockerfile for the tests: its stages (name, base, instructions) and
what a target ends with (user, ENV, CMD, HEALTHCHECK, EXPOSE) once its base stages are followed."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"


@dataclass
class Instruction:
    keyword: str
    args: str


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[Instruction] = field(default_factory=list)


def instructions(text: str) -> list[Instruction]:
    """Logical instructions: comments and blank lines dropped, `\\` continuations joined."""
    result: list[Instruction] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        pending += line
        keyword, _, args = pending.partition(" ")
        result.append(Instruction(keyword.upper(), args.strip()))
        pending = ""
    return result


def stages(path: Path = DOCKERFILE) -> dict[str, Stage]:
    """The stages by name (an unnamed stage is named by its index)."""
    found: dict[str, Stage] = {}
    current: Stage | None = None
    for instruction in instructions(path.read_text()):
        if instruction.keyword == "FROM":
            parts = instruction.args.split()
            base = next(p for p in parts if not p.startswith("--"))
            name = parts[-1] if len(parts) >= 3 and parts[-2].upper() == "AS" else str(len(found))
            current = Stage(name, base)
            found[name] = current
        elif current is not None:
            current.instructions.append(instruction)
    return found


def chain(target: str, all_stages: dict[str, Stage]) -> list[Stage]:
    """The target's stages from the external base down to the target itself."""
    result: list[Stage] = []
    stage: Stage | None = all_stages[target]
    while stage is not None:
        result.insert(0, stage)
        stage = all_stages.get(stage.base)
    return result


def effective(target: str, keyword: str) -> list[Instruction]:
    """Every instruction of this keyword the target runs, its bases' first."""
    return [i for s in chain(target, stages()) for i in s.instructions if i.keyword == keyword]


def final_user(target: str) -> str | None:
    users = effective(target, "USER")
    return users[-1].args if users else None


def exec_form(args: str) -> list[str]:
    """A CMD/ENTRYPOINT/HEALTHCHECK CMD argument list (JSON exec form, else shell words)."""
    args = args.strip()
    return json.loads(args) if args.startswith("[") else shlex.split(args)


def command(target: str) -> list[str]:
    cmds = effective(target, "CMD")
    assert cmds, f"target {target} has no CMD"
    return exec_form(cmds[-1].args)


def healthcheck(target: str) -> str | None:
    """The HEALTHCHECK line in force (None when there is none, "NONE" when disabled)."""
    checks = effective(target, "HEALTHCHECK")
    return checks[-1].args if checks else None


def env(target: str) -> dict[str, str]:
    """ENV of the target, later values winning; `$NAME` references expanded from earlier ones."""
    values: dict[str, str] = {}
    for instruction in effective(target, "ENV"):
        for word in shlex.split(instruction.args):
            name, _, value = word.partition("=")
            values[name] = re.sub(r"\$\{?(\w+)\}?", lambda m: values.get(m.group(1), ""), value)
    return values


def args(target: str) -> dict[str, str]:
    names: dict[str, str] = {}
    for stage in chain(target, stages()):
        for instruction in stage.instructions:
            if instruction.keyword == "ARG":
                name, _, value = instruction.args.partition("=")
                names[name] = value
    return names


def exposed(target: str) -> list[int]:
    return [int(port.split("/")[0]) for i in effective(target, "EXPOSE") for port in i.args.split()]


def volumes(target: str) -> list[str]:
    result: list[str] = []
    for instruction in effective(target, "VOLUME"):
        result.extend(exec_form(instruction.args))
    return result


def external_bases() -> list[str]:
    """The images the build starts FROM (not its own stages)."""
    all_stages = stages()
    return [s.base for s in all_stages.values() if s.base not in all_stages]
