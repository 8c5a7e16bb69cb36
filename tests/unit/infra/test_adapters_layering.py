"""adapters/ (the outside world) imports domain and HTTP libraries, never the store,
the workers or the broker (DESIGN, Layers v2). Reads the source with `ast`."""

from __future__ import annotations

import ast
import sys

from tests.support.paths import ROOT

ADAPTERS = ROOT / "adapters"
ALLOWED = {"adapters", "domain", "pydantic", "httpx", "tornado"}


def test_adapters_import_only_domain_http_libraries_and_the_standard_library() -> None:
    bad = []
    for path in sorted(ADAPTERS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom)
                     and node.level == 0 else [])
            for name in names:
                top = name.split(".")[0]
                if top not in ALLOWED and top not in sys.stdlib_module_names:
                    bad.append(f"{path.name}:{node.lineno} imports {name}")
    assert bad == []
    assert list(ADAPTERS.glob("*.py"))  # the test reads something



def test_bodies_are_signed_in_one_place_shared_by_the_bank_and_the_sinks() -> None:
    signers = []
    for path in sorted(ADAPTERS.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {a.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                    for a in node.names}
        if "hmac" in imported:
            signers.append(path.name)
    assert signers == ["signing.py"]
