"""The Content-Security-Policy: no inline script, style or handler anywhere in our sources, the
enforced header on every page, and the violation report endpoint.

The source scan covers every template of the project and its apps, every string literal of
our Python modules (HTML and SVG built in code) and our JavaScript (markup built in the
browser), so that a new inline script, style or handler fails here before a browser refuses
it in production.
"""

from __future__ import annotations

import ast
import json
import logging
import re
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.core.cache import cache

from mes_site import csp
from tests.mfa import login_verified

ROOT = Path(settings.BASE_DIR)
SKIPPED_DIRS = {".venv", "staticfiles", "tests", "node_modules", ".git", "var", "test-artifacts"}

# What the policy refuses without 'unsafe-inline' (and 'unsafe-hashes').
INLINE_PATTERNS = {
    # A script element with a body: no src attribute, and not a JSON data block
    # (json_script's <script type="application/json"> is data, never executed).
    "inline <script>": re.compile(
        r"<script\b(?![^>]*\bsrc\s*=)(?![^>]*\btype\s*=\s*[\"']?application/(?:ld\+)?json)[^>]*>",
        re.IGNORECASE,
    ),
    "<style> block": re.compile(r"<style\b", re.IGNORECASE),
    "style attribute": re.compile(r"<[a-zA-Z][^<>]*\sstyle\s*=", re.IGNORECASE),
    "event handler attribute": re.compile(r"<[a-zA-Z][^<>]*\son[a-z]+\s*=", re.IGNORECASE),
    "javascript: URL": re.compile(r"javascript:", re.IGNORECASE),
    "style set as an attribute": re.compile(
        r"setAttribute\(\s*[\"'](?:style|on[a-z]+)[\"']", re.IGNORECASE
    ),
}


def inline_findings(text: str) -> list[str]:
    return [name for name, pattern in INLINE_PATTERNS.items() if pattern.search(text)]


def _our_files(suffixes: tuple[str, ...]) -> list[Path]:
    found = []
    for path in ROOT.rglob("*"):
        if path.suffix in suffixes and path.is_file():
            relative = path.relative_to(ROOT)
            if not SKIPPED_DIRS.intersection(relative.parts[:-1]):
                found.append(path)
    return sorted(found)


def _template_files() -> list[Path]:
    directories = [Path(d) for d in settings.TEMPLATES[0]["DIRS"]]
    for config in apps.get_app_configs():
        app_path = Path(config.path)
        # Installed packages live under ROOT too when the virtualenv is inside the checkout.
        first_party = app_path.is_relative_to(ROOT) and "site-packages" not in app_path.parts
        if first_party and (app_path / "templates").is_dir():
            directories.append(app_path / "templates")
    return sorted(path for d in directories for path in d.rglob("*") if path.is_file())


def _string_literals(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


@pytest.mark.parametrize(
    "sample",
    [
        "<script>alert(1)</script>",
        "<SCRIPT type='text/javascript'>x()</SCRIPT>",
        "<style>body{}</style>",
        '<div class="a" style="width: 3%">',
        '<svg><rect style="fill:red"/></svg>',
        '<select id="x" onchange="this.form.submit()">',
        '<a href="javascript:void(0)">',
        'node.setAttribute("style", "color: red")',
    ],
)
def test_the_scan_finds_each_kind_of_inline_code(sample):
    assert inline_findings(sample) != []


@pytest.mark.parametrize(
    "sample",
    [
        '<script src="/static/js/live.js"></script>',
        '<script src="/static/js/dashboard.js" data-site="1"></script>',
        '<script id="live-targets" type="application/json">["site.1"]</script>',
        '<rect class="fill" width="40" height="1" fill="#1f6feb"/>',
        '<select id="site-select" name="site" data-submit-on-change>',
        "Lines on the floor, stations online",
    ],
)
def test_the_scan_passes_what_the_policy_allows(sample):
    assert inline_findings(sample) == []


def test_no_template_has_inline_scripts_styles_or_handlers():
    templates = _template_files()
    names = {path.relative_to(ROOT).as_posix() for path in templates}
    # The scan sees the project's templates, app templates and the SVG ones.
    assert {
        "templates/base.html",
        "templates/scheduling/gantt.svg",
        "workers/templates/admin/workers/deadletter/change_list.html",
    } <= names
    findings = {
        name: found
        for path in templates
        if (found := inline_findings(path.read_text()))
        for name in [path.relative_to(ROOT).as_posix()]
    }
    assert findings == {}


def test_no_python_module_builds_inline_scripts_styles_or_handlers():
    modules = _our_files((".py",))
    assert ROOT / "planning" / "gantt_svg.py" in modules
    findings = {
        path.relative_to(ROOT).as_posix(): found
        for path in modules
        for literal in _string_literals(path)
        if (found := inline_findings(literal))
    }
    assert findings == {}


def test_no_javascript_builds_inline_styles_or_handlers():
    scripts = _our_files((".js",))
    assert ROOT / "static" / "js" / "live.js" in scripts
    findings = {
        path.relative_to(ROOT).as_posix(): found
        for path in scripts
        if (found := inline_findings(path.read_text()))
    }
    assert findings == {}


def test_no_admin_makes_the_change_list_write_its_inline_style():
    """Django's change list writes an inline <style> when both action bars are off."""
    without_action_bars = [
        f"{model._meta.label}"
        for model, model_admin in admin.site._registry.items()
        if not model_admin.actions_on_top and not model_admin.actions_on_bottom
    ]
    assert without_action_bars == []


# --- the header ---------------------------------------------------------------------------


def _directives(header: str) -> dict[str, list[str]]:
    directives = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


@pytest.fixture
def admin_client_with_plant(client, make_user, plant):
    user = make_user("supervisor")
    user.is_staff = True
    user.is_superuser = True
    user.save()
    login_verified(client, user)
    return client


PAGES = [
    "/",
    "/hmi/",
    "/admin/",
    "/admin/workers/deadletter/",
    "/admin/production/workorder/add/",
    "/api/docs/",
    "/api/docs/?script=",
]


@pytest.mark.django_db
@pytest.mark.parametrize("path", PAGES)
def test_each_page_enforces_the_policy_without_unsafe_inline(admin_client_with_plant, path):
    response = admin_client_with_plant.get(path)
    assert response.status_code == 200
    assert "Content-Security-Policy-Report-Only" not in response
    header = response["Content-Security-Policy"]
    assert "unsafe-inline" not in header
    assert "unsafe-eval" not in header
    assert "unsafe-hashes" not in header
    directives = _directives(header)
    assert directives["default-src"] == ["'self'"]
    assert directives["script-src"] == ["'self'"]
    assert directives["style-src"] == ["'self'"]
    assert directives["img-src"] == ["'self'", "data:"]
    assert directives["object-src"] == ["'none'"]
    assert directives["base-uri"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["form-action"] == ["'self'"]
    assert directives["connect-src"] == ["'self'", "ws://testserver"]
    assert directives["report-uri"] == ["/csp-report/"]
    if response["Content-Type"].startswith("text/html"):
        assert inline_findings(response.content.decode()) == []


@pytest.mark.django_db
def test_the_login_page_and_the_api_docs_script_follow_the_policy(client, plant, make_user):
    login = client.get("/accounts/login/", secure=True)
    directives = _directives(login["Content-Security-Policy"])
    # Over HTTPS the websocket origin is wss:// and only that.
    assert directives["connect-src"] == ["'self'", "wss://testserver"]
    assert inline_findings(login.content.decode()) == []
    client.force_login(make_user("planner"))
    docs = client.get("/api/docs/")
    # Swagger UI starts from a script file of the same view, not an inline block.
    assert '<script src="/api/docs/?script="></script>' in docs.content.decode()
    script = client.get("/api/docs/?script=")
    assert script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle(" in script.content.decode()


# --- violation reports --------------------------------------------------------------------

REPORT = {
    "csp-report": {
        "document-uri": "http://testserver/",
        "violated-directive": "script-src-elem",
        "effective-directive": "script-src-elem",
        "blocked-uri": "inline",
        "source-file": "http://testserver/",
        "line-number": 12,
        "disposition": "enforce",
    }
}


@pytest.fixture
def report_minute(monkeypatch):
    """The report budget's clock at a fixed minute, and that minute's counter cleared."""
    minute_ts = 1_700_000_000.0
    monkeypatch.setattr(csp, "clock", lambda: minute_ts)
    cache.delete(f"csp-reports:{int(minute_ts // 60)}")
    yield
    cache.delete(f"csp-reports:{int(minute_ts // 60)}")


@pytest.mark.django_db
def test_violation_reports_are_logged_within_a_budget_per_minute(
    client, settings, caplog, report_minute
):
    settings.CSP_VIOLATION_REPORTS_PER_MINUTE = 3
    caplog.set_level(logging.WARNING, logger="mes_site.csp")
    for _ in range(5):
        response = client.post(
            "/csp-report/", json.dumps(REPORT), content_type="application/csp-report"
        )
        assert response.status_code == 204
    logged = [record.getMessage() for record in caplog.records if record.name == "mes_site.csp"]
    assert len(logged) == 3
    assert logged[0] == (
        'CSP violation {"blocked-uri": "inline", "column-number": "", '
        '"disposition": "enforce", "document-uri": "http://testserver/", '
        '"effective-directive": "script-src-elem", "line-number": "12", '
        '"source-file": "http://testserver/", "violated-directive": "script-src-elem"}'
    )


@pytest.mark.django_db
def test_a_malformed_or_oversized_report_is_dropped_quietly(client, caplog, report_minute):
    caplog.set_level(logging.WARNING, logger="mes_site.csp")
    oversized = {"csp-report": {**REPORT["csp-report"], "script-sample": "x" * 20_000}}
    for body in ("not json", json.dumps({"other": 1}), json.dumps(oversized)):
        response = client.post("/csp-report/", body, content_type="application/csp-report")
        assert response.status_code == 204
    assert client.get("/csp-report/").status_code == 405
    assert [r for r in caplog.records if r.name == "mes_site.csp"] == []
