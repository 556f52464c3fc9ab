"""Every example in the package's docstrings runs and gives what it shows (the pure core's reward functions,
shaping and voting document themselves that way, as TRL's reward functions do)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import cuma_lite


def test_every_docstring_example_holds() -> None:
    attempted, failures = 0, []
    for info in pkgutil.walk_packages(cuma_lite.__path__, "cuma_lite."):
        if info.name.endswith("__main__"):  # importing it runs the CLI
            continue
        result = doctest.testmod(importlib.import_module(info.name), verbose=False, report=False)
        attempted += result.attempted
        if result.failed:
            failures.append(info.name)
    assert not failures, f"docstring examples fail in {failures}"
    assert attempted >= 30  # the examples were found (a module list that came back empty would pass)
