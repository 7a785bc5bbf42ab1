"""The pure core imports no framework: answer extraction, judging, prompts, problems, preferences and reports
stay testable in milliseconds and safe to run anywhere. Also: only the scheduling module names resources."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "orca_ray"
FORBIDDEN = {
    "ray",
    "vllm",
    "torch",
    "trl",
    "peft",
    "transformers",
    "autogen_agentchat",
    "autogen_core",
    "autogen_ext",
    "autogen",
    "datasets",
    "accelerate",
}


def _pure_files() -> list[Path]:
    files = sorted((PACKAGE / "core").rglob("*.py"))
    files += [PACKAGE / name for name in ("schemas.py", "config.py", "errors.py") if (PACKAGE / name).exists()]
    return files


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_pure_core_imports_no_framework():
    pure = {f.resolve() for f in _pure_files()}
    offenders = []
    for path in pure:
        for module in _imports(path):
            top = module.split(".")[0]
            if top in FORBIDDEN:
                offenders.append(f"{path.relative_to(PACKAGE.parent)} imports {module}")
            elif top == "orca_ray":
                target = PACKAGE.parent / (module.replace(".", "/") + ".py")
                package_init = PACKAGE.parent / module.replace(".", "/") / "__init__.py"
                if target.resolve() not in pure and package_init.resolve() not in pure and module != "orca_ray":
                    offenders.append(f"{path.relative_to(PACKAGE.parent)} imports non-core {module}")
    assert offenders == []


def test_only_the_scheduler_names_resource_amounts():
    """Resource amounts written as literals outside resources.py are the part that breaks on a new cluster."""
    literal = re.compile(r"""(num_gpus|num_cpus|"CPU"|"GPU")\s*[=:]\s*[0-9.]""")
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        rel = str(path.relative_to(PACKAGE))
        if rel in ("distributed/resources.py", "config.py"):
            continue
        offenders += [f"{rel}: {m.group(0)}" for m in literal.finditer(path.read_text())]
    assert offenders == []


# Issue 23: the distributed layer reads as named steps; a longer function is a flow to split (verl's 420-line fit()).
MAX_FUNCTION_LINES = 60


def test_no_function_in_distributed_is_over_the_size_budget():
    """From the def line to the last line (decorators not counted), nested functions counted inside their parent."""
    offenders = []
    for path in sorted((PACKAGE / "distributed").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name}: {lines} lines")
    assert offenders == [], f"over {MAX_FUNCTION_LINES} lines: {offenders}"
