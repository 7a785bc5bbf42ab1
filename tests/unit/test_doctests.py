"""The runnable examples in the pure modules' docstrings stay true."""

import doctest
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "orca_ray"
PURE = sorted(
    ["orca_ray.config", "orca_ray.schemas"]
    + [f"orca_ray.core.{p.stem}" for p in (PACKAGE / "core").glob("*.py") if p.stem != "__init__"]
)


@pytest.mark.parametrize("module_name", PURE)
def test_docstring_examples(module_name):
    module = importlib.import_module(module_name)
    failures, _ = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert failures == 0
