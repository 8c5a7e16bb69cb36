"""The product documents live in the repository, equal to the shared copies."""

from __future__ import annotations

import re

import pytest

from tests.support.paths import ROOT

SHARED = ROOT.parent / "shared"
COPIES = {"spec.md": "SPEC.md", "design.md": "DESIGN.md"}


@pytest.mark.parametrize("copy", sorted(COPIES))
def test_the_repository_copy_of_each_product_document_equals_the_shared_one(copy: str) -> None:
    shared = SHARED / COPIES[copy]
    if not shared.exists():
        pytest.skip(f"no {shared} beside this clone to compare with")
    assert (ROOT / "docs" / copy).read_text() == shared.read_text(), (
        f"docs/{copy} differs from {shared}: copy it again")


def test_every_relative_link_of_the_readme_names_a_file_of_the_repository() -> None:
    text = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text)
    relative = [x for x in links if "://" not in x]
    assert relative, "the README links to its documents"
    missing = [x for x in relative if not (ROOT / x).resolve().is_relative_to(ROOT)
               or not (ROOT / x).exists()]
    assert missing == []
