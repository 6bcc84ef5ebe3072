"""The README and docs/ stand on their own: no pointers to files outside the repository, and the
architecture page names only modules that exist."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
OUTSIDE = ("../shared", "shared/DESIGN", "shared/papers")
MODULE_PATH = re.compile(r"\b(?:harness|algorithms)/[\w/.-]*?\.py\b")
PACKAGE_PATH = re.compile(r"`((?:harness|algorithms)/(?:[\w-]+/)*)`")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_docs_do_not_point_outside_the_repository(doc):
    text = doc.read_text(encoding="utf-8")
    found = [(n, ref) for n, line in enumerate(text.splitlines(), 1) for ref in OUTSIDE if ref in line]
    assert not found, f"{doc.relative_to(ROOT)} refers to files outside the repository: {found}"


def test_architecture_page_exists_and_the_readme_points_at_it():
    assert (ROOT / "docs" / "architecture.md").is_file()
    assert "docs/architecture.md" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_module_the_architecture_page_names_exists():
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    paths = sorted(set(MODULE_PATH.findall(text)))
    assert paths, "docs/architecture.md names no harness/ or algorithms/ module"
    missing = [p for p in paths if not (ROOT / p).is_file()]
    assert not missing, f"docs/architecture.md names modules that do not exist: {missing}"


def test_every_package_folder_the_architecture_page_names_exists():
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    folders = sorted(set(PACKAGE_PATH.findall(text)))
    missing = [f for f in folders if not (ROOT / f).is_dir()]
    assert not missing, f"docs/architecture.md names folders that do not exist: {missing}"
