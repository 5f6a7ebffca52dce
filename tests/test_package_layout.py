"""How cases/ is laid out: each sub-package's routes, and which module may import which."""

from __future__ import annotations

import ast
import subprocess
import sys
from importlib import import_module
from pathlib import Path

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

ROOT = Path(__file__).resolve().parent.parent
SUBPACKAGES = ["imaging", "unknown", "discussion", "library", "conference"]


def _names_in_namespace(patterns, namespace: str = "") -> dict[str, str]:
    """Every URL name reachable from ``patterns``, with the module of its view."""
    names = {}
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = ":".join(filter(None, [namespace, entry.namespace or ""]))
            names |= _names_in_namespace(entry.url_patterns, inner)
        elif isinstance(entry, URLPattern) and entry.name:
            names[f"{namespace}:{entry.name}"] = entry.callback.__module__
    return names


@pytest.mark.parametrize("package", SUBPACKAGES)
def test_each_subpackage_urls_is_included_in_the_cases_namespace(package):
    urls = import_module(f"cases.{package}.urls")
    included = [
        entry.urlconf_module.__name__
        for entry in import_module("cases.urls").urlpatterns
        if isinstance(entry, URLResolver)
    ]
    assert f"cases.{package}.urls" in included
    routed = _names_in_namespace(get_resolver().url_patterns)
    for pattern in urls.urlpatterns:
        assert routed[f"cases:{pattern.name}"].startswith(f"cases.{package}.")


def _views_loaded_by(module: str) -> list[str]:
    """The views modules that importing ``module`` loads, in a fresh interpreter."""
    code = (
        "import django, sys; django.setup(); before = set(sys.modules); "
        f"import {module}; "
        "print(*(m for m in set(sys.modules) - before if m.endswith('.views')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"DJANGO_SETTINGS_MODULE": "caseviewer.settings", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    return sorted(result.stdout.split())


def test_reveal_rules_import_without_any_views():
    assert _views_loaded_by("cases.unknown.reveal") == []


def test_conference_services_import_without_any_views():
    assert _views_loaded_by("cases.conference.services") == []


def _import_graph() -> dict[str, set[str]]:
    """Which module of cases/ imports which, anywhere in its file (in functions too)."""
    files = {}
    for path in (ROOT / "cases").rglob("*.py"):
        if "migrations" in path.parts:
            continue
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        package = parts[:-1] if parts[-1] == "__init__" else parts
        files[".".join(package)] = (path, package if parts[-1] == "__init__" else parts[:-1])
    graph = {}
    for name, (path, package) in files.items():
        graph[name] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = package[: len(package) - node.level + 1] if node.level else []
                module = ".".join(base + ([node.module] if node.module else []))
                targets = [module, *(f"{module}.{alias.name}" for alias in node.names)]
            else:
                continue
            graph[name] |= {target for target in targets if target in files and target != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(group)

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles_between_modules_of_cases():
    assert _cycles(_import_graph()) == []
