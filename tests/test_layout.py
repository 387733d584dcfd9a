"""The package per stage: imports run one way, from core up; no test module imports another."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "builder"
TESTS = Path(__file__).resolve().parent
# The flow, lowest first: a module may import its own stage and the stages before it.
STAGES = ("core", "inputs", "labels", "tasks", "labelstudio", "dataset", "cli")


def stage_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "builder" or len(parts) < 2:
        return None
    return parts[1] if parts[1] in STAGES else None


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """Every module a file imports by its absolute name, anywhere in it (inside functions too)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            # `from builder import labelstudio` names a stage in the imported names.
            if node.module == "builder":
                found += [(node.lineno, f"builder.{alias.name}") for alias in node.names]
    return found


def wrong_way_imports(package: Path) -> list[str]:
    wrong = []
    for path in sorted(package.rglob("*.py")):
        own = stage_of("builder." + ".".join(path.relative_to(package).with_suffix("").parts))
        if own is None:
            continue
        for line, module in imported_modules(path):
            other = stage_of(module)
            if other is not None and STAGES.index(other) > STAGES.index(own):
                wrong.append(f"{path.relative_to(package.parent)}:{line}: {own} imports {module}")
    return wrong


def test_every_module_belongs_to_a_stage() -> None:
    packages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert packages == set(STAGES)
    loose = {p.name for p in PACKAGE.glob("*.py")}
    assert loose == {"__init__.py", "__main__.py"}


def test_no_stage_imports_a_later_one() -> None:
    assert wrong_way_imports(PACKAGE) == []


@pytest.mark.parametrize(
    ("stage", "source", "caught"),
    [
        ("inputs", "from builder.labels.aggregate import answer\n", True),
        ("labels", "def f():\n    from builder.labelstudio import pull\n", True),
        ("core", "import builder.cli.main\n", True),
        ("dataset", "from builder import labelstudio\n", False),
        ("tasks", "from builder import dataset\n", True),
        ("cli", "from builder.core.config import Settings\n", False),
    ],
)
def test_the_check_catches_a_wrong_way_import(
    tmp_path: Path, stage: str, source: str, caught: bool
) -> None:
    package = tmp_path / "builder"
    (package / stage).mkdir(parents=True)
    (package / stage / "module.py").write_text(source, encoding="utf-8")
    assert bool(wrong_way_imports(package)) == caught


def imports_between_test_modules(tests: Path) -> list[str]:
    """Each import of a test module by a test module: what two modules share belongs in
    tests/support.py or a conftest.py fixture, where every module finds it."""
    found = []
    for path in sorted(tests.glob("test_*.py")):
        for line, module in imported_modules(path):
            if module.split(".")[0].startswith("test_"):
                found.append(f"{path.name}:{line}: imports {module}")
    return found


def test_no_test_module_imports_another() -> None:
    assert imports_between_test_modules(TESTS) == []


# Spelled apart so that a grep of tests/ for imports of test modules finds real ones only.
OTHER = "test" + "_other"


@pytest.mark.parametrize(
    ("source", "caught"),
    [
        (f"from {OTHER} import helper\n", True),
        (f"import {OTHER}\n", True),
        (f"import {OTHER} as other\n", True),
        (f"def f():\n    from {OTHER} import helper\n", True),
        ("from support import helper\n", False),
        ("from conftest import LabelStudioServer\n", False),
        ("import pytest\n", False),
    ],
)
def test_the_check_catches_a_test_module_importing_another(
    tmp_path: Path, source: str, caught: bool
) -> None:
    (tmp_path / f"{OTHER}.py").write_text("def helper() -> None:\n    pass\n", encoding="utf-8")
    (tmp_path / "test_module.py").write_text(source, encoding="utf-8")
    assert bool(imports_between_test_modules(tmp_path)) == caught


def test_the_readme_layout_names_every_module_of_each_stage() -> None:
    readme = (PACKAGE.parent / "README.md").read_text(encoding="utf-8")
    layout = readme[readme.index("## Layout") :]
    block = layout[layout.index("```") : layout.index("```", layout.index("```") + 3)]
    # Each stage's entry runs from its "name/" to the next stage's.
    entries = re.split(r"\n  (?=\w+/ )", block)
    described = {entry.split("/")[0]: entry for entry in entries[1:]}
    assert set(described) == set(STAGES)
    for stage in STAGES:
        modules = {p.stem for p in (PACKAGE / stage).glob("*.py") if p.stem != "__init__"}
        words = set(re.findall(r"\w+", described[stage]))
        assert modules <= words, f"{stage}: {sorted(modules - words)} not in the README's layout"


def test_the_sync_and_pull_steps_import_no_pandas_scipy_or_sklearn() -> None:
    # Every `make sync` and `make pull` pays its imports, a sync with nothing new included:
    # the heavy libraries are imported where they are used (aggregation, clustering, dataset).
    script = (
        "import sys\n"
        "import builder.cli.main, builder.labelstudio.rounds, builder.labelstudio.pull\n"
        "heavy = ('pandas', 'scipy', 'sklearn', 'crowdkit', 'matplotlib', 'datasets')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        cwd=PACKAGE.parent,
    )
    assert done.stdout.strip() == "[]"
