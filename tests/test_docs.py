"""Every command shown in docs/ runs, exits as documented and prints the lines quoted."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import ROOT
from parity.cli import cli

pytest.importorskip("torch", reason="the docs use every backend")
pytest.importorskip("cv2", reason="the docs use every backend")
pytest.importorskip("parity.backends.mxnet_symbol", reason="the docs use every backend")

BLOCK = re.compile(r"```console\n(.*?)```", re.S)
CHECKED = ("first divergence:", "hint [", "ok:", "### parity")


def commands() -> list[tuple[str, str, int, list[str]]]:
    """(doc, command, expected exit code, quoted output lines) for every ``$ parity`` line."""
    found = []
    for doc in sorted((ROOT / "docs").rglob("*.md")):
        for block in BLOCK.findall(doc.read_text(encoding="utf-8")):
            chunks = re.split(r"^\$ ", block, flags=re.M)[1:]
            for chunk in chunks:
                command, *output = chunk.rstrip("\n").split("\n")
                code = next((int(m[1]) for line in output
                             if (m := re.fullmatch(r"\[exit (\d)\]", line))), 0)
                quoted = [line.strip() for line in output if line.startswith(CHECKED)]
                found.append((doc.relative_to(ROOT).as_posix(), command, code, quoted))
    return found


COMMANDS = commands()


def test_docs_show_commands():
    assert len(COMMANDS) >= 15


@pytest.mark.parametrize(("doc", "command", "code", "quoted"), COMMANDS,
                         ids=[f"{d}:{i}" for i, (d, *_) in enumerate(COMMANDS)])
def test_documented_command(doc, command, code, quoted, monkeypatch, tmp_path):
    monkeypatch.chdir(ROOT)
    args = shlex.split(command)
    assert args[0] == "parity", f"{doc}: only parity commands are runnable: {command}"
    args = [str(tmp_path / a) if a.startswith("reports/") else a for a in args[1:]]
    if args[0] == "report":  # re-render the run saved by the previous command of the doc
        _save_run_for(doc, tmp_path)
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == code, f"{doc}: {command}\n{result.output}"
    flat = " ".join(result.output.split())
    for line in quoted:
        assert " ".join(line.split()) in flat, f"{doc}: {command}: missing {line!r}"


def _save_run_for(doc: str, tmp_path: Path) -> None:
    previous = [c for d, c, *_ in COMMANDS if d == doc and "--save-tensors" in c]
    args = [str(tmp_path / a) if a.startswith("reports/") else a
            for a in shlex.split(previous[0])[1:]]
    CliRunner().invoke(cli, args)


# ---------------------------------------------------------------- cli.md against --help

SECTION = re.compile(r"^## `parity (\w+)([^`]*`\n.*?)(?=^## )", re.S | re.M)
EVERY_COMMAND = re.compile(r"^## Every command\n(.*?)(?=^## )", re.S | re.M)
GLOBAL = {"--version", "--help"} | set(re.findall(
    r"(?<![\w-])--[a-z][a-z0-9-]*",
    EVERY_COMMAND.search((ROOT / "docs" / "cli.md").read_text(encoding="utf-8"))[1]))


def documented_options() -> dict[str, set[str]]:
    """Options mentioned in each command's section of cli.md; ``--a-x (and --b-*)`` and
    ``--a-x/--a-y`` read as the ``--b-`` forms too."""
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8") + "\n## end\n"
    found = {}
    for command, body in SECTION.findall(text):
        names = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", body))
        if "--b-*" in body or "(and `--b-*`)" in body:
            names |= {"--b-" + n[4:] for n in names if n.startswith("--a-")}
        found[command] = names - {"--b-"}
    return found


def help_options(command: str) -> set[str]:
    params = cli.commands[command].params
    return {o for p in params for o in (*p.opts, *p.secondary_opts) if o.startswith("--")}


@pytest.mark.parametrize("command", sorted(cli.commands))
def test_cli_md_lists_every_option_of_the_help(command):
    documented = documented_options()
    assert command in documented, f"docs/cli.md has no section for parity {command}"
    missing = help_options(command) - documented[command] - GLOBAL
    assert not missing, f"parity {command} --help has options cli.md does not list: {missing}"
    anywhere = set().union(*(help_options(c) for c in cli.commands))  # "as --x for compare"
    unknown = documented[command] - anywhere - GLOBAL
    assert not unknown, f"cli.md names options no parity command has: {unknown}"


# ---------------------------------------------------------------- json-report.md against the schema

def _key_tables() -> list[dict[str, str]]:
    """The ``| key | type | meaning |`` tables of json-report.md: key -> its meaning."""
    tables: list[dict[str, str]] = []
    rows: dict[str, str] | None = None
    for line in (ROOT / "docs" / "json-report.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("| key | type | meaning |"):
            rows = {}
            tables.append(rows)
        elif rows is not None and line.startswith("| `"):
            keys, _, meaning = (c.strip() for c in line.strip("|").split("|", 2))
            for key in re.findall(r"`(\w+)`", keys):
                rows[key] = meaning
        elif rows is not None and not line.startswith("|"):
            rows = None
    return tables


def test_json_report_md_keys_match_the_schema():
    schema = json.loads((ROOT / "docs" / "report.schema.json").read_text(encoding="utf-8"))
    report, pair = _key_tables()
    assert set(report) == set(schema["properties"])
    assert set(pair) == set(schema["$defs"]["pair"]["properties"])
    props = schema["properties"]
    nested = {"tolerance": props["tolerance"], "coverage": props["coverage"],
              "a": schema["$defs"]["side"],
              "first_divergence": props["first_divergence"]["oneOf"][1],
              "hints": props["hints"]["items"]}
    for key, sub in nested.items():
        named = set(re.findall(r"`(\w+)`", report[key]))
        missing = set(sub["properties"]) - named
        assert not missing, f"json-report.md's {key} row does not name {missing}"
    assert re.search(r"`version` is 2\b", (ROOT / "docs" / "json-report.md").read_text())
    assert props["version"] == {"const": 2}
