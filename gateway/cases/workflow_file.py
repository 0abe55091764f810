"""Reading the workflow file: YAML with the line of every value kept (the rules file's
reader, ``gateway.routing.rules.yaml_lines``), validated by the schema in
``gateway.cases.workflow``, each problem reported as ``PATH:LINE: where: what``."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from gateway.cases.workflow import Workflow
from gateway.routing.rules.yaml_lines import Located, YamlProblem, parse, plain

MAX_FILE_BYTES = 1024 * 1024


class WorkflowError(Exception):
    """The workflow file cannot be used; ``errors`` are ``PATH:LINE: message`` lines."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


def load_workflow(path: Path | str) -> Workflow:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise WorkflowError([f"{path}:1: cannot read the workflow file: {exc.strerror or exc}"]) from None
    return workflow_from_text(raw, str(path))


def workflow_from_text(raw: bytes, where: str) -> Workflow:
    if len(raw) > MAX_FILE_BYTES:
        raise WorkflowError([f"{where}:1: the workflow file is over {MAX_FILE_BYTES} bytes"])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise WorkflowError([f"{where}:1: the workflow file is not UTF-8"]) from None
    try:
        document = parse(text)
    except YamlProblem as exc:
        raise WorkflowError([f"{where}:{exc.line}: {exc.message}"]) from None
    if document is None or not document.is_mapping:
        line = document.line if document is not None else 1
        raise WorkflowError([f"{where}:{line}: the workflow file must be a mapping (number_prefix, categories, …)"])
    try:
        workflow = Workflow.model_validate(plain(document))
    except ValidationError as exc:
        raise WorkflowError(_problems(exc, document, where)) from None
    return workflow


def file_version(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()[:12]


def _problems(exc: ValidationError, document: Located, where: str) -> list[str]:
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        loc = [str(part) for part in error["loc"]]
        key = ".".join(loc) or "(top level)"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        elif error["type"] == "missing":
            message = "is required"
        problems.append(f"{where}:{line_of(document, loc)}: {key}: {message}")
    return problems


def line_of(document: Located, loc: list[str]) -> int:
    """The line of the value at ``loc`` (a key's own line for the last step), or of the
    nearest mapping or list above it that exists."""
    node: Any = document
    line = document.line
    for part in loc:
        if isinstance(node.value, dict):
            entry = node.value.get(part)
            if entry is None:
                return line
            line, node = entry.key_line, entry.value
        elif isinstance(node.value, list) and part.isdigit() and int(part) < len(node.value):
            node = node.value[int(part)]
            line = node.line
        else:
            return line
    return line
