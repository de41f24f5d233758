"""The bench is not run in CI (it needs wrk and a quiet machine), so at least every module of it must import:
a moved name below it (as once `blocklist.rules.Entry`) otherwise breaks `./dev bench` unseen."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import bench

MODULES = sorted(m.name for m in pkgutil.iter_modules(bench.__path__, "bench.") if m.name != "bench.__main__")


@pytest.mark.parametrize("name", MODULES)
def test_every_bench_module_imports(name: str) -> None:
    assert importlib.import_module(name).__name__ == name


def test_the_bench_modules_were_found() -> None:
    assert {"bench.data", "bench.runner", "bench.servers"} <= set(MODULES)
