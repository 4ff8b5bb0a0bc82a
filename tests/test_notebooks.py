"""Every notebook is papermill-ready: a cell tagged `parameters` whose names papermill can override."""

import ast

import nbformat
import pytest

from conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_parameters_cell_is_overridable(path):
    nb = nbformat.read(path, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: needs exactly one cell tagged 'parameters'"
    tree = ast.parse(tagged[0].source)
    names = [t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets]
    assert names, f"{path.name}: the parameters cell assigns nothing"
    assert all(isinstance(node, ast.Assign) for node in tree.body), "only plain assignments"
    # papermill injects a new cell after this one; the names must be plain, module-level assignments
    later = "\n".join(c.source for c in nb.cells[nb.cells.index(tagged[0]) + 1 :] if c.cell_type == "code")
    for name in names:
        assert name in later, f"{path.name}: parameter {name!r} is never used"
