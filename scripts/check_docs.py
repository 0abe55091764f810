"""Runs the commands of README.md and docs/ as a reader would, and says which fail.

`scripts/check-docs` calls this. It copies the working tree (tracked and new files, not
ignored ones) into a scratch directory that is a fresh git repository, starts the demo
there (`scripts/serve`, on free ports), and goes through the pages in order:

* a fenced ```sh block is run with bash (`set -euo pipefail`), in the copy; shell
  variables a block assigns carry over to the later blocks of the same page, as in one
  terminal. `curl` fails on an HTTP error status (`--fail-with-body`), so a refused
  request fails the block;
* a fenced ```console block is a transcript: each `$ ` line is run and what it prints
  (stdout and stderr) must equal the lines below it; `…` in an expected line matches
  anything;
* `<!-- check-docs: skip (reason) -->` on the line before a block skips it (the reason is
  listed); `<!-- check-docs: after a web chat visitor writes -->` first has a visitor
  write in the web chat, as the reader would in the browser;
* every relative link (and image) must name a file of the tree, and its `#anchor` a
  heading of that page.

The documented ports (127.0.0.1:8080, :2525, :8025, :2526) are replaced by the free ones.
The copy shares this tree's .venv; pip runs dry there, so a block cannot re-point it.
Usage: .venv/bin/python scripts/check_docs.py [PAGE.md ...]   (default: README.md docs/**/*.md)
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
DIRECTIVE = re.compile(r"^<!--\s*check-docs:\s*(.*?)\s*-->$")
FENCE = re.compile(r"^(```+|~~~+)\s*([\w-]*)")
ASSIGNMENT = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=")
DOCUMENTED_PORTS = {"http": 8080, "smtp": 2525, "sink": 8025, "relay": 2526}
VISITOR = "after a web chat visitor writes"
LINK = re.compile(r"\]\(([^)\s]+)\)|<img [^>]*src=\"([^\"]+)\"")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*$")
BLOCK_TIMEOUT = 120


@dataclass
class Block:
    page: str
    line: int  # of the opening fence, 1-based
    kind: str  # "sh" or "console"
    text: str
    directive: str | None

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def blocks_of(page: Path) -> list[Block]:
    found: list[Block] = []
    lines = page.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        fence, kind, start = match.group(1), match.group(2), i
        body: list[str] = []
        i += 1
        while i < len(lines) and not lines[i].startswith(fence):
            body.append(lines[i])
            i += 1
        i += 1
        if kind not in ("sh", "console"):
            continue
        previous = next((lines[j].strip() for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        directive = DIRECTIVE.match(previous)
        rel = page.relative_to(ROOT).as_posix()
        found.append(Block(rel, start + 1, kind, "\n".join(body) + "\n", directive.group(1) if directive else None))
    return found


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]|\[|\]\([^)]*\)", "", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    found: set[str] = set()
    in_fence = False
    for line in page.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence and (match := HEADING.match(line)):
            found.add(slug(match.group(1)))
    return found


def broken_links(page: Path) -> list[str]:
    broken: list[str] = []
    text = re.sub(r"^(```|~~~).*?^\1", "", page.read_text(encoding="utf-8"), flags=re.S | re.M)
    for match in LINK.finditer(text):
        target = match.group(1) or match.group(2)
        if re.match(r"^[a-z]+:", target):
            continue  # http(s), mailto
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        where = page.relative_to(ROOT).as_posix()
        if not dest.exists():
            broken.append(f"{where}: link to {target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{where}: link to {target}: no heading #{anchor} there")
    return broken


def free_ports(count: int) -> list[int]:
    socks = [socket.socket() for _ in range(count)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def scratch_copy(target: Path) -> None:
    """The working tree as a fresh clone would have it, plus the shared .venv."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for raw in filter(None, listed):
        source = ROOT / os.fsdecode(raw)
        if not source.is_file():
            continue  # deleted in the working tree
        dest = target / os.fsdecode(raw)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, dest)
    (target / ".venv").symlink_to(ROOT / ".venv")
    git_env = {**os.environ, "GIT_AUTHOR_NAME": "check-docs", "GIT_AUTHOR_EMAIL": "check-docs@localhost"}
    git_env |= {"GIT_COMMITTER_NAME": "check-docs", "GIT_COMMITTER_EMAIL": "check-docs@localhost"}
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "scratch copy"]):
        subprocess.run(["git", *args], cwd=target, env=git_env, check=True)


class Demo:
    """scripts/serve in the scratch copy, on free ports."""

    def __init__(self, where: Path) -> None:
        self.where = where
        self.ports = dict(zip(DOCUMENTED_PORTS, free_ports(len(DOCUMENTED_PORTS)), strict=True))
        self.url = f"http://127.0.0.1:{self.ports['http']}"
        self.log = where / "var" / "serve.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {
            **os.environ,
            "GATEWAY_HTTP_PORT": str(self.ports["http"]),
            "GATEWAY_SMTP_PORT": str(self.ports["smtp"]),
            "DEMO_SINK_PORT": str(self.ports["sink"]),
            "DEMO_RELAY_PORT": str(self.ports["relay"]),
        }
        for name in ("GATEWAY_CONFIG", "API_CALLBACK_URL", "DEMO_DIR"):
            env.pop(name, None)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(["scripts/serve"], cwd=self.where, env=env, stdout=log, stderr=log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"scripts/serve exited:\n{self.log.read_text(errors='replace')}")
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("the demo did not become ready in 60 s")

    def stop(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return None

    def localise(self, text: str) -> str:
        for name, documented in DOCUMENTED_PORTS.items():
            text = text.replace(f"127.0.0.1:{documented}", f"127.0.0.1:{self.ports[name]}")
        return text


async def visitor_writes(url: str, text: str) -> None:
    """What the reader does in the browser: open the chat and write one message."""
    async with aiohttp.ClientSession() as http, http.ws_connect(f"{url}/webchat/ws", headers={"Origin": url}) as ws:
        await ws.send_json({"type": "hello", "token": None, "name": "check-docs", "language": "zh"})
        await ws.send_json({"type": "message", "id": f"check-{time.monotonic_ns()}", "text": text})
        async with asyncio.timeout(15):
            async for frame in ws:
                if json.loads(frame.data).get("type") == "ack":
                    return
    raise RuntimeError("the web chat never acknowledged the visitor's message")


class Runner:
    def __init__(self, demo: Demo) -> None:
        self.demo = demo
        self.failures: list[str] = []
        self.skipped: list[str] = []
        self.ran = 0

    def bash(self, script: str) -> tuple[int | None, str]:
        """Exit status (None: timed out, and everything it started is stopped) and output."""
        proc = subprocess.Popen(
            ["bash", "-c", script],
            cwd=self.demo.where,
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            output, _ = proc.communicate(timeout=BLOCK_TIMEOUT)
            return proc.returncode, output
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            return None, ""

    def env(self) -> dict[str, str]:
        # The copy's .venv is the tree's own: pip in a block must not re-point it at the copy.
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "PIP_DRY_RUN": "1"}
        env.pop("GATEWAY_CONFIG", None)
        return env

    def run_page(self, blocks: list[Block], state: Path) -> None:
        state.write_text("")
        for block in blocks:
            directive = block.directive or ""
            if directive.startswith("skip"):
                self.skipped.append(f"{block.where} {directive[4:].strip() or '(no reason given)'}")
                continue
            if directive == VISITOR:
                asyncio.run(visitor_writes(self.demo.url, "你好，我想问一下我的订单"))
            elif directive:
                self.failures.append(f"{block.where}: unknown directive {directive!r}")
                continue
            self.ran += 1
            if block.kind == "sh":
                self.run_sh(block, state)
            else:
                self.run_console(block)

    def run_sh(self, block: Block, state: Path) -> None:
        names = sorted({m.group(1) for line in block.text.splitlines() if (m := ASSIGNMENT.match(line))})
        script = "\n".join(
            [
                f"source {state}",
                "set -euo pipefail",
                'curl() { command curl --fail-with-body "$@"; }',
                self.demo.localise(block.text),
                f"declare -p {' '.join(names)} >> {state}" if names else "",
            ]
        )
        code, output = self.bash(script)
        if code is None:
            self.failures.append(f"{block.where}: still running after {BLOCK_TIMEOUT} s\n{indent(block.text)}")
        elif code != 0:
            self.failures.append(f"{block.where}: exit {code}\n{indent(block.text)}\n--- output ---\n{indent(output)}")

    def run_console(self, block: Block) -> None:
        for command, expected in transcript(block.text):
            code, output = self.bash(self.demo.localise(command))
            if code is None:
                self.failures.append(f"{block.where}: `{command}` still running after {BLOCK_TIMEOUT} s")
                continue
            got = output.rstrip("\n").splitlines()
            if not matches(expected, got):
                self.failures.append(
                    f"{block.where}: `{command}` printed something else\n--- expected ---\n"
                    f"{indent(chr(10).join(expected))}\n--- got ---\n{indent(chr(10).join(got))}"
                )


def transcript(text: str) -> list[tuple[str, list[str]]]:
    """`$ command` lines (with `\\` continuations) and the output lines under each."""
    pairs: list[tuple[str, list[str]]] = []
    lines = text.rstrip("\n").splitlines()
    i = 0
    while i < len(lines):
        if not lines[i].startswith("$ "):
            i += 1
            continue
        command = lines[i][2:]
        while command.endswith("\\") and i + 1 < len(lines):
            i += 1
            command = command[:-1].rstrip() + " " + lines[i].strip()
        i += 1
        output: list[str] = []
        while i < len(lines) and not lines[i].startswith("$ "):
            output.append(lines[i])
            i += 1
        pairs.append((command, output))
    return pairs


def matches(expected: list[str], got: list[str]) -> bool:
    if len(expected) != len(got):
        return False
    for want, line in zip(expected, got, strict=True):
        pattern = ".*".join(re.escape(part) for part in want.rstrip().split("…"))
        if not re.fullmatch(pattern, line.rstrip()):
            return False
    return True


def indent(text: str) -> str:
    return "\n".join("    " + line for line in text.rstrip("\n").splitlines())


def pages(args: list[str]) -> list[Path]:
    if args:
        return [Path(a).resolve() for a in args]
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def main() -> int:
    chosen = pages(sys.argv[1:])
    links = [broken for page in chosen for broken in broken_links(page)]
    with tempfile.TemporaryDirectory(prefix="check-docs-") as tmp:
        copy = Path(tmp) / "repo"
        scratch_copy(copy)
        demo = Demo(copy)
        demo.start()
        runner = Runner(demo)
        try:
            for page in chosen:
                runner.run_page(blocks_of(page), Path(tmp) / "state.sh")
        finally:
            code = demo.stop()
        if code != 0:
            runner.failures.append(
                f"the demo did not stop cleanly (exit {code}):\n{demo.log.read_text(errors='replace')}"
            )
    for skipped in runner.skipped:
        print(f"skipped {skipped}")
    runner.failures[:0] = links
    for failure in runner.failures:
        print(f"FAILED {failure}\n")
    print(f"check-docs: {runner.ran} blocks run, {len(runner.skipped)} skipped, {len(runner.failures)} failed")
    return 1 if runner.failures else 0


if __name__ == "__main__":
    sys.exit(main())
