"""deploy/Dockerfile, read as text: multi-stage, non-root, health-checked, no compilers."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
BUILD_TOOLS = re.compile(r"\b(gcc|g\+\+|cc|make|build-essential|clang|python3-dev)\b")


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for instruction in _instructions():
        if instruction[0] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(instruction)
    return stages


def _final() -> list[tuple[str, str]]:
    return _stages()[-1]


def test_dockerfile_is_multi_stage() -> None:
    stages = _stages()
    assert len(stages) >= 2
    assert " AS builder" in stages[0][0][1]
    assert any(i == "COPY" and "--from=builder" in a for i, a in _final())


def test_final_stage_is_a_slim_python_3_11() -> None:
    args = dict(a.split("=", 1) for i, a in _instructions() if i == "ARG" and "=" in a)
    base = _final()[0][1].split()[0]
    base = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], base)
    assert base.startswith("python:3.11") and "slim" in base


def test_final_stage_runs_as_a_non_root_user() -> None:
    users = [a for i, a in _final() if i == "USER"]
    assert users, "no USER in the final stage"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")


def test_final_stage_has_a_healthcheck_on_healthz_without_curl() -> None:
    (healthcheck,) = [a for i, a in _final() if i == "HEALTHCHECK"]
    assert "/healthz" in healthcheck and "urllib" in healthcheck
    assert "curl" not in healthcheck
    assert "127.0.0.1" in healthcheck and "8080" in healthcheck


def test_final_stage_installs_no_build_tools() -> None:
    for instruction, arguments in _final():
        if instruction == "RUN":
            assert not BUILD_TOOLS.search(arguments), arguments


def test_default_command_runs_everything_in_one_process() -> None:
    assert [a for i, a in _final() if i == "CMD"][-1] == '["gatehouse", "up"]'
