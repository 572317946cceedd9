"""The architecture of docs/DESIGN.md §3, checked on the source: which app may import which,
pure modules that load no framework, and the ways around the layers that are not allowed
(an API serializer in a service, another app's model looked up by label, a guard for an app
that is always installed).

Every rule is a checker over (path, source text) so that the self-tests at the end can feed it
a synthetic module and prove that it fails.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]

# --- the design, as data ----------------------------------------------------------------------

# An app may import itself and the apps listed for it (an entry with a dot allows only that
# module of the app: autonomy uses traceability's audit base and nothing else of it).
ALLOWED_IMPORTS: dict[str, set[str]] = {
    "mes_site": set(),
    "integration": {"mes_site"},
    "traceability": {"mes_site", "integration"},
    "autonomy": {"mes_site", "integration", "traceability.services.audit"},
    "production": {"mes_site", "integration", "autonomy", "traceability"},
    "inventory": {"mes_site", "integration", "autonomy", "traceability", "production"},
    "quality": {"mes_site", "integration", "autonomy", "traceability", "production", "inventory"},
    "workers": {
        "mes_site", "integration", "autonomy", "traceability", "production", "inventory",
        "quality",
    },
    "connectors": {
        "mes_site", "integration", "autonomy", "traceability", "production", "inventory",
        "quality", "workers",
    },
    "maintenance": {
        "mes_site", "integration", "autonomy", "traceability", "production", "inventory",
        "quality", "workers",
    },
    "planning": {
        "mes_site", "integration", "autonomy", "traceability", "production", "inventory",
        "quality", "workers", "maintenance",
    },
    "live": {
        "mes_site", "integration", "autonomy", "traceability", "production", "inventory",
        "quality", "workers", "maintenance", "planning",
    },
}  # fmt: skip
APPS = frozenset(ALLOWED_IMPORTS)

# Files that may import more than their app: the project's URL and websocket routing, and the
# workers' demo harness (simulator, demo plant and their commands), which reads every app but
# the read side.
_ALL_APPS = set(APPS)
_ALL_APPS_BUT_LIVE = _ALL_APPS - {"live"}
WIDER_IMPORTS: dict[str, set[str]] = {
    "mes_site/urls.py": _ALL_APPS,
    "mes_site/routing.py": _ALL_APPS,
    "workers/simulator/": _ALL_APPS_BUT_LIVE,
    "workers/demo_plant.py": _ALL_APPS_BUT_LIVE,
    "workers/management/commands/simulate_plant.py": _ALL_APPS_BUT_LIVE,
    "workers/management/commands/load_demo_plant.py": _ALL_APPS_BUT_LIVE,
}

# Any app may import another app's pure algorithms: `<app>.algorithms`.
SHARED_SUBPACKAGE = "algorithms"

# Pure modules: they import no web framework, task queue or MQTT client, so any process (the
# bridge, a worker, a benchmark) can load them. The simulation core of workers/simulator/ is
# pure too; only its paho publisher and its database selectors touch the outside world.
PURE_MODULE_GLOBS = ("*/algorithms/**/*.py", "workers/mqtt/**/*.py", "workers/simulator/*.py")
IMPURE_EXCEPTIONS = frozenset({"workers/simulator/publisher.py", "workers/simulator/selectors.py"})
FORBIDDEN_IN_PURE_MODULES = ("django", "rest_framework", "celery", "channels", "paho")

NOT_FIRST_PARTY_FOLDERS = frozenset({"migrations"})
GUARD_EXCEPTIONS = frozenset({"ImportError", "ModuleNotFoundError", "LookupError"})


# --- reading the source -----------------------------------------------------------------------


@dataclass(frozen=True)
class Import:
    path: str  # relative to the repository root, with forward slashes
    line: int
    module: str  # the module named by the statement (relative imports resolved)
    target: str  # the module or name it binds: `module.name` for `from module import name`

    @property
    def app(self) -> str | None:
        top = self.target.split(".")[0]
        return top if top in APPS else None


def module_name(path: str) -> str:
    parts = path.removesuffix(".py").split("/")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _package_of(path: str) -> list[str]:
    """The package a relative import of level 1 starts from."""
    parts = module_name(path).split(".")
    return parts if path.endswith("/__init__.py") else parts[:-1]


def _resolve(path: str, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    package = _package_of(path)
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def imports_of(path: str, tree: ast.AST) -> Iterator[Import]:
    """Every import statement anywhere in the module: top level, functions, TYPE_CHECKING."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(path, node.lineno, alias.name, alias.name)
        elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
            module = _resolve(path, node)
            for alias in node.names:
                target = module if alias.name == "*" else f"{module}.{alias.name}"
                yield Import(path, node.lineno, module, target)


def _unique(violations: list[str]) -> list[str]:
    """One line per statement and module (`from x import a, b` is one arrow)."""
    return list(dict.fromkeys(violations))


def _matches(target: str, prefix: str) -> bool:
    return target == prefix or target.startswith(f"{prefix}.")


def first_party_files(root: Path = REPOSITORY_ROOT) -> list[str]:
    """The apps' and mes_site's Python files, without their migrations."""
    files = []
    for app in sorted(APPS):
        for file in sorted((root / app).rglob("*.py")):
            relative = file.relative_to(root)
            if NOT_FIRST_PARTY_FOLDERS.isdisjoint(relative.parts):
                files.append(relative.as_posix())
    return files


@pytest.fixture(scope="module")
def first_party_trees() -> list[tuple[str, ast.AST]]:
    """Every first-party module parsed once for all the rules."""
    return [
        (path, ast.parse((REPOSITORY_ROOT / path).read_text(), filename=path))
        for path in first_party_files()
    ]


# --- the rules: each returns its violations as exact message lines ----------------------------


def _allowed_for(path: str) -> set[str]:
    app = path.split("/")[0]
    allowed = {app} | ALLOWED_IMPORTS[app]
    for prefix, wider in WIDER_IMPORTS.items():
        if path == prefix or (prefix.endswith("/") and path.startswith(prefix)):
            allowed |= wider
    return allowed


def _is_shared_algorithm(target: str) -> bool:
    parts = target.split(".")
    return len(parts) > 1 and parts[1] == SHARED_SUBPACKAGE


def forbidden_imports(path: str, tree: ast.AST) -> list[str]:
    """`path:line imports module (app → app is not allowed)` for every wrong arrow."""
    app = path.split("/")[0]
    allowed = _allowed_for(path)
    violations = []
    for item in imports_of(path, tree):
        if item.app is None or item.app == app or _is_shared_algorithm(item.target):
            continue
        if not any(_matches(item.target, prefix) for prefix in allowed):
            violations.append(
                f"{path}:{item.line} imports {item.module} ({app} → {item.app} is not allowed)"
            )
    return _unique(violations)


def is_service_or_selector(path: str) -> bool:
    parts = path.split("/")
    return bool({"services", "selectors"} & set(parts[:-1])) or parts[-1] in {
        "services.py",
        "selectors.py",
    }


def _api_package_in(target: str, root: Path) -> str | None:
    """The `<...>.api` package the dotted name goes through, if any."""
    parts = target.split(".")
    for index in range(1, len(parts)):
        if parts[index] == "api" and root.joinpath(*parts[: index + 1]).is_dir():
            return ".".join(parts[: index + 1])
    return None


def api_imports_in_services_and_selectors(
    path: str, tree: ast.AST, root: Path = REPOSITORY_ROOT
) -> list[str]:
    if not is_service_or_selector(path):
        return []
    violations = []
    for item in imports_of(path, tree):
        package = _api_package_in(item.target, root)
        if item.app is not None and package is not None:
            violations.append(
                f"{path}:{item.line} imports {item.module} (a service or selector must not "
                f"import the API package {package})"
            )
    return _unique(violations)


def _model_label(call: ast.Call) -> str | None:
    """The app label of a `get_model("label", "Model")` / `get_model("label.Model")` call."""
    if not (isinstance(call.func, ast.Attribute) and call.func.attr == "get_model"):
        return None
    if not call.args or not isinstance(call.args[0], ast.Constant):
        return None
    first = call.args[0].value
    if not isinstance(first, str):
        return None
    return first if len(call.args) > 1 else first.split(".")[0]


def _lookup_text(call: ast.Call) -> str:
    return ast.unparse(call)


def other_app_model_lookups(path: str, tree: ast.AST) -> list[str]:
    """`apps.get_model(...)` with another first-party app's label."""
    app = path.split("/")[0]
    violations = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            label = _model_label(node)
            if label in APPS and label != app:
                violations.append(
                    f"{path}:{node.lineno} calls {_lookup_text(node)} ({app} must import the "
                    f"model of {label} or call its selector, not look it up by label)"
                )
    return violations


def _caught_names(handler: ast.ExceptHandler) -> set[str]:
    caught = handler.type
    nodes = caught.elts if isinstance(caught, ast.Tuple) else [caught] if caught else []
    return {node.id for node in nodes if isinstance(node, ast.Name)}


def _guarded_first_party(path: str, body: list[ast.stmt]) -> list[str]:
    """The first-party imports and model lookups in a `try` body."""
    guarded = []
    for statement in body:
        module = ast.Module(body=[statement], type_ignores=[])
        guarded += [item.module for item in imports_of(path, module) if item.app is not None]
        guarded += [
            _lookup_text(node)
            for node in ast.walk(statement)
            if isinstance(node, ast.Call) and _model_label(node) in APPS
        ]
    return guarded


def guarded_first_party_imports(path: str, tree: ast.AST) -> list[str]:
    """`try: <first-party import> except ImportError/LookupError`: the apps are always there."""
    violations = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Try):
            continue
        caught = set().union(*(_caught_names(handler) for handler in node.handlers))
        for exception in sorted(caught & GUARD_EXCEPTIONS):
            for guarded in _guarded_first_party(path, node.body):
                violations.append(
                    f"{path}:{node.lineno} guards {guarded} with except {exception} "
                    "(a first-party app is always installed)"
                )
    return _unique(violations)


def pure_module_paths(root: Path = REPOSITORY_ROOT) -> list[str]:
    paths = {
        file.relative_to(root).as_posix()
        for pattern in PURE_MODULE_GLOBS
        for file in root.glob(pattern)
        if not any(part.startswith(".") for part in file.relative_to(root).parts)
    }
    return sorted(paths - IMPURE_EXCEPTIONS)


_PURITY_SCRIPT = """
import importlib, json, sys
forbidden = set(sys.argv[2].split(","))
report = {"pulled_in": {}, "failed": {}}
for path in json.loads(sys.argv[1]):
    name = path.removesuffix(".py").replace("/", ".").removesuffix(".__init__")
    before = set(sys.modules)
    try:
        importlib.import_module(name)
    except Exception as error:
        report["failed"][path] = f"{type(error).__name__}: {error}"
        continue
    pulled_in = {module.split(".")[0] for module in set(sys.modules) - before}
    if pulled_in & forbidden:
        report["pulled_in"][path] = sorted(pulled_in & forbidden)
print(json.dumps(report))
"""


def framework_modules_pulled_in(paths: list[str], root: Path = REPOSITORY_ROOT) -> list[str]:
    """Import every module in ONE fresh interpreter (no Django settings); which pulled in a
    forbidden framework, and which did not import at all."""
    environment = {
        key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"
    }
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            _PURITY_SCRIPT,
            json.dumps(paths),
            ",".join(FORBIDDEN_IN_PURE_MODULES),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=root,
        env=environment,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    return [
        f"{path} pulled in {', '.join(modules)}" for path, modules in report["pulled_in"].items()
    ] + [f"{path} does not import: {error}" for path, error in report["failed"].items()]


def _report(title: str, violations: list[str]) -> str:
    return "\n".join([f"{len(violations)} {title}:", *violations])


# --- the rules on this repository -------------------------------------------------------------


def test_the_table_names_every_app() -> None:
    apps = {path.parent.name for path in REPOSITORY_ROOT.glob("*/apps.py")} | {"mes_site"}

    assert apps == APPS


def test_pure_modules_load_no_framework() -> None:
    paths = pure_module_paths()
    assert "workers/mqtt/uns.py" in paths
    assert "planning/algorithms/scheduler/placement.py" in paths  # sub-packages are found too

    violations = framework_modules_pulled_in(paths)

    assert violations == [], _report("pure modules load a framework", violations)


def test_apps_import_only_the_apps_below_them(first_party_trees) -> None:
    violations = [
        violation for path, tree in first_party_trees for violation in forbidden_imports(path, tree)
    ]

    assert violations == [], _report("imports against the allowed directions", violations)


def test_services_and_selectors_import_no_api_package(first_party_trees) -> None:
    violations = [
        violation
        for path, tree in first_party_trees
        for violation in api_imports_in_services_and_selectors(path, tree)
    ]

    assert violations == [], _report("API imports in services and selectors", violations)


def test_no_app_looks_up_another_apps_model_by_label(first_party_trees) -> None:
    violations = [
        violation
        for path, tree in first_party_trees
        for violation in other_app_model_lookups(path, tree)
    ]

    assert violations == [], _report("model lookups across apps", violations)


def test_no_first_party_import_is_guarded(first_party_trees) -> None:
    violations = [
        violation
        for path, tree in first_party_trees
        for violation in guarded_first_party_imports(path, tree)
    ]

    assert violations == [], _report("guarded first-party imports", violations)


# --- the checkers fail when they should: synthetic modules ------------------------------------


def _tree(source: str) -> ast.AST:
    return ast.parse(source)


@pytest.mark.parametrize(
    ("path", "source", "expected"),
    [
        (
            "production/views.py",
            "from live.views import x\n",
            ["production/views.py:1 imports live.views (production → live is not allowed)"],
        ),
        (
            "production/services/orders.py",
            "def f():\n    import planning.models\n",
            [
                "production/services/orders.py:2 imports planning.models "
                "(production → planning is not allowed)"
            ],
        ),
        (
            "autonomy/services/guardrails.py",
            "from traceability.models import Lot\nfrom traceability.services.audit import a\n",
            [
                "autonomy/services/guardrails.py:1 imports traceability.models "
                "(autonomy → traceability is not allowed)"
            ],
        ),
        (
            "mes_site/settings.py",
            "from production import choices\n",
            ["mes_site/settings.py:1 imports production (mes_site → production is not allowed)"],
        ),
        (
            "workers/simulator/stations.py",
            "from live.broadcast import x\nfrom planning.models import CustomerOrder\n",
            [
                "workers/simulator/stations.py:1 imports live.broadcast "
                "(workers → live is not allowed)"
            ],
        ),
        ("mes_site/urls.py", "from live.api import urls\n", []),
        ("production/services/oee.py", "from planning.algorithms.scheduler import s\n", []),
        ("production/services/oee.py", "from maintenance import algorithms\n", []),
        ("live/consumers.py", "from planning.selectors import x\nimport numpy\n", []),
        ("planning/services/runs.py", "from .. import models\nfrom ..api import views\n", []),
    ],
)
def test_the_import_direction_checker(path: str, source: str, expected: list[str]) -> None:
    assert forbidden_imports(path, _tree(source)) == expected


@pytest.mark.parametrize(
    ("path", "source", "expected"),
    [
        (
            "planning/selectors/runs.py",
            "from production.api.serializers import S\n",
            [
                "planning/selectors/runs.py:1 imports production.api.serializers (a service or "
                "selector must not import the API package production.api)"
            ],
        ),
        (
            "planning/services/runs.py",
            "def f():\n    from ..api import serializers\n",
            [
                "planning/services/runs.py:2 imports planning.api (a service or selector must "
                "not import the API package planning.api)"
            ],
        ),
        ("inventory/services.py", "from mes_site.api import x\n", []),
        ("planning/api/views.py", "from planning.api.serializers import S\n", []),
    ],
)
def test_the_api_import_checker(path: str, source: str, expected: list[str]) -> None:
    assert api_imports_in_services_and_selectors(path, _tree(source)) == expected


@pytest.mark.parametrize(
    ("path", "source", "expected"),
    [
        (
            "planning/selectors/health.py",
            "from django.apps import apps\napps.get_model('maintenance', 'HealthSnapshot')\n",
            [
                "planning/selectors/health.py:2 calls apps.get_model('maintenance', "
                "'HealthSnapshot') (planning must import the model of maintenance or call its "
                "selector, not look it up by label)"
            ],
        ),
        (
            "live/selectors.py",
            "def f(apps):\n    return apps.get_model('workers.Reading')\n",
            [
                "live/selectors.py:2 calls apps.get_model('workers.Reading') (live must import "
                "the model of workers or call its selector, not look it up by label)"
            ],
        ),
        ("planning/selectors/runs.py", "apps.get_model('planning', 'ScheduleRun')\n", []),
        ("mes_site/roles.py", "apps.get_model('auth', 'Group')\n", []),
    ],
)
def test_the_model_lookup_checker(path: str, source: str, expected: list[str]) -> None:
    assert other_app_model_lookups(path, _tree(source)) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            "try:\n    from production.services import monitoring\nexcept ImportError:\n    pass\n",
            [
                "workers/services.py:1 guards production.services with except ImportError "
                "(a first-party app is always installed)"
            ],
        ),
        (
            "def f():\n    try:\n        m = apps.get_model('maintenance', 'X')\n"
            "    except (LookupError, ValueError):\n        return None\n",
            [
                "workers/services.py:2 guards apps.get_model('maintenance', 'X') with except "
                "LookupError (a first-party app is always installed)"
            ],
        ),
        ("try:\n    import yaml\nexcept ImportError:\n    yaml = None\n", []),
        ("try:\n    from . import models\nexcept ValueError:\n    pass\n", []),
    ],
)
def test_the_import_guard_checker(source: str, expected: list[str]) -> None:
    assert guarded_first_party_imports("workers/services.py", _tree(source)) == expected


def test_the_purity_checker_names_the_module_that_pulled_in_a_framework(tmp_path: Path) -> None:
    package = tmp_path / "sample" / "algorithms"
    package.mkdir(parents=True)
    (tmp_path / "sample" / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "clean.py").write_text("import math\n")
    (package / "tainted.py").write_text("import json\nimport django\n")
    (package / "broken.py").write_text("raise ValueError('no')\n")

    violations = framework_modules_pulled_in(pure_module_paths(tmp_path), root=tmp_path)

    assert violations == [
        "sample/algorithms/tainted.py pulled in django",
        "sample/algorithms/broken.py does not import: ValueError: no",
    ]
