"""The layout's rules that no linter checks: a function-level import says why, no module grows past
~1,000 lines, and the webhooks read in the order a call meets them. (The layers themselves are
import-linter's contracts in pyproject.toml, run by `./dev test`.)"""

from __future__ import annotations

import ast
from pathlib import Path

from ivr.webhooks import ROUTE_MODULES
from tests.support.constants import ROOT

PACKAGES = ("ivr", "blocklist", "workers", "prompts")


def sources() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def test_every_function_level_import_says_why() -> None:
    silent = []
    for path in sources():
        lines = path.read_text().split("\n")
        for node in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for inner in ast.walk(node):
                if isinstance(inner, (ast.Import, ast.ImportFrom)):
                    here = lines[inner.lineno - 1]
                    above = "\n".join(lines[max(0, inner.lineno - 4):inner.lineno - 1])
                    if "#" not in here and "imported here" not in above.lower():
                        silent.append(f"{path.relative_to(ROOT)}:{inner.lineno}: {here.strip()}")
    assert not silent, "import at the top of the module, or say why here (# imported here: ...):\n" + "\n".join(silent)


def test_no_module_is_over_about_a_thousand_lines() -> None:
    big = {str(p.relative_to(ROOT)): n for p in sources() if (n := p.read_text().count("\n")) > 1000}
    assert not big, f"split these by concern (LAYOUT.md): {big}"


def test_the_webhooks_are_registered_in_call_order() -> None:
    assert [m.__name__.rsplit(".", 1)[1] for m in ROUTE_MODULES] == [
        "incoming", "queue", "agent", "hold", "isolation", "callbacks", "status", "media"]
