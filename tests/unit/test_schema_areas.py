"""chalicelib.api.schemas resolves a name through AREAS: the table must say where each name is defined."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from chalicelib.api import schemas

PACKAGE = Path(schemas.__file__).parent


def _defined_names(area: str) -> set[str]:
    tree = ast.parse((PACKAGE / f"{area}.py").read_text())
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(target.id for target in node.targets if isinstance(target, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return {name for name in names if not name.startswith("_")}


def test_every_area_module_is_listed() -> None:
    modules = {path.stem for path in PACKAGE.glob("*.py") if path.stem != "__init__"}
    assert set(schemas.AREAS) == modules


@pytest.mark.parametrize("area", sorted(schemas.AREAS))
def test_an_area_lists_exactly_the_public_names_its_module_defines(area: str) -> None:
    assert set(schemas.AREAS[area]) == _defined_names(area)


def test_a_name_lives_in_one_area_and_resolves_to_its_definition() -> None:
    seen: dict[str, str] = {}
    for area, names in schemas.AREAS.items():
        module = importlib.import_module(f"chalicelib.api.schemas.{area}")
        for name in names:
            assert name not in seen, (name, seen.get(name), area)
            seen[name] = area
            assert getattr(schemas, name) is getattr(module, name)


def test_an_unknown_name_is_an_attribute_error() -> None:
    name = "NoSuchModel"
    with pytest.raises(AttributeError):
        getattr(schemas, name)
