"""The Content-Security-Policy in a real browser: each role's main pages record no violation
and still work (charts and the Gantt draw, live updates connect, the admin and the API docs
render), and an injected inline script is refused and reported.

Violations are collected twice: from the ``securitypolicyviolation`` event (an init script,
which Playwright injects outside the page's policy) and from Chromium's console messages.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from mes_site.mfa import mfa_needed
from tests.mfa import totp_code, totp_device_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LIVE = "[data-live-indicator][data-state=live]"

COLLECT_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (event) {
  window.__cspViolations.push({
    directive: event.effectiveDirective,
    blocked: event.blockedURI,
    source: event.sourceFile + ":" + event.lineNumber,
  });
});
"""


class PolicyWatch:
    """A logged-in browser context that records every CSP violation of its pages."""

    def __init__(self, browser, server_url: str):
        self.server_url = server_url
        self.context = browser.new_context(viewport={"width": 1440, "height": 1000})
        self.context.add_init_script(COLLECT_VIOLATIONS)
        self.console: list[str] = []
        self.page = self.context.new_page()
        self.page.set_default_timeout(15_000)
        self.page.on("console", self._console)
        self.violations: list[dict] = []

    def _console(self, message) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.console.append(f"{self.page.url}: {message.text}")

    def login(self, username: str, password: str) -> None:
        # A role that needs the second factor types the authenticator app's code, as the
        # person would (the verify page is watched for violations like every other).
        user = get_user_model().objects.get(username=username)
        device = totp_device_for(user) if mfa_needed(user) else None
        self.visit("/accounts/login/")
        self.page.fill("#id_username", username)
        self.page.fill("#id_password", password)
        self.page.click("button[type=submit]")
        self.page.wait_for_url(lambda url: "/accounts/login/" not in url)
        if device is not None:
            self.page.wait_for_url(lambda url: "/accounts/mfa/verify/" in url)
            self._collect()
            self.page.fill("#id_code", totp_code(device))
            self.page.click("#mfa-verify")
            self.page.wait_for_url(lambda url: "/accounts/mfa/" not in url)
        self._collect()

    def visit(self, path: str) -> None:
        self._collect()
        response = self.page.goto(f"{self.server_url}{path}")
        assert response is not None and response.status == 200, path
        header = response.headers["content-security-policy"]
        assert "unsafe-inline" not in header, path

    def _collect(self) -> None:
        """The current document's violations (read before each navigation replaces it)."""
        try:
            found = self.page.evaluate("window.__cspViolations || []")
        except Exception:  # no document yet
            found = []
        for violation in found:
            violation["page"] = self.page.url
            self.violations.append(violation)
        if found:
            self.page.evaluate("window.__cspViolations = []")

    def finish(self) -> tuple[list[dict], list[str]]:
        self._collect()
        return self.violations, self.console


@pytest.fixture
def watch(browser, asgi_server):
    watches: list[PolicyWatch] = []

    def make(username: str) -> PolicyWatch:
        policy_watch = PolicyWatch(browser, asgi_server.url)
        policy_watch.login(username, f"{username}-demo")
        watches.append(policy_watch)
        return policy_watch

    yield make
    for policy_watch in watches:
        policy_watch.context.close()


def test_supervisor_pages_work_without_a_violation(watch, live_scene):
    supervisor = watch("supervisor")
    page = supervisor.page
    page.wait_for_selector(LIVE)
    # Charts and the Gantt are drawn; the bars' widths are SVG attributes, not styles.
    page.wait_for_selector("[data-panel=trend] svg.chart polyline.series")
    page.wait_for_selector("[data-panel=gantt] svg.gantt .gantt-bar rect")
    page.wait_for_selector("[data-panel=dispatch] svg.load-bar rect.fill", state="attached")
    page.wait_for_selector("[data-panel=lines] svg.progress rect.fill", state="attached")
    widths = page.locator("[data-panel=dispatch] svg.load-bar rect.fill").evaluate_all(
        "nodes => nodes.map(node => node.getBoundingClientRect().width)"
    )
    assert max(widths) > 0  # the lines' loads are drawn
    assert page.locator("[data-panel=trend] .legend svg.swatch rect").count() == 3
    bar_width = page.eval_on_selector(
        "[data-panel=lines] svg.progress", "node => node.getBoundingClientRect().width"
    )
    assert bar_width > 50  # the bar fills its cell: its stylesheet rules apply

    supervisor.visit(f"/equipment/{live_scene['spindle_7']}/")
    page.wait_for_selector(LIVE)
    page.wait_for_selector("[data-signal=temperature] svg polyline.line")

    supervisor.visit(f"/api/production/schedule/gantt.svg?site={live_scene['site']}")
    assert page.locator("svg.gantt rect.bar").count() > 0
    fill = page.eval_on_selector("svg.gantt rect.bar", "node => getComputedStyle(node).fill")
    assert fill in {"rgb(59, 130, 246)", "rgb(124, 58, 237)"}  # drawn in the plan's colours

    supervisor.visit("/api/docs/")
    page.wait_for_selector(".swagger-ui .opblock-tag", timeout=30_000)
    assert page.locator(".swagger-ui .opblock").count() > 0

    violations, console = supervisor.finish()
    assert violations == []
    assert console == []


def test_operator_hmi_works_without_a_violation(watch, live_scene):
    operator = watch("operator")
    operator.visit("/hmi/")
    operator.page.wait_for_selector("a.station-choice")
    operator.visit(f"/hmi/station/{live_scene['spindle_7']}/")
    operator.page.wait_for_selector(LIVE)
    assert operator.page.locator(".state-panel .state-word").inner_text() == "DOWN"
    violations, console = operator.finish()
    assert violations == []
    assert console == []


def test_admin_pages_work_without_a_violation(watch, live_scene):
    admin = watch("admin")
    page = admin.page
    admin.visit("/admin/")
    page.wait_for_selector("#content-main .app-production")
    admin.visit("/admin/production/workorder/")
    page.wait_for_selector("#result_list tbody tr")
    # The change list's JavaScript runs: ticking a row enables the actions.
    page.check("#result_list tbody tr:first-child input.action-select")
    page.wait_for_selector("#result_list tbody tr.selected")
    admin.visit("/admin/production/workorder/add/")
    page.wait_for_selector("form#workorder_form")
    admin.visit("/admin/workers/deadletter/")
    page.wait_for_selector("#changelist")
    admin.visit("/api/docs/")
    page.wait_for_selector(".swagger-ui .opblock-tag", timeout=30_000)
    violations, console = admin.finish()
    assert violations == []
    assert console == []


def test_an_injected_inline_script_is_refused_and_reported(watch, live_scene):
    supervisor = watch("supervisor")
    page = supervisor.page
    page.wait_for_selector(LIVE)
    page.evaluate(
        """() => {
          const script = document.createElement("script");
          script.textContent = "window.__inlineRan = true";
          document.body.appendChild(script);
          const node = document.createElement("div");
          node.innerHTML = '<img src="x.png" onerror="window.__handlerRan = true">';
          document.body.appendChild(node);
        }"""
    )
    page.wait_for_function("window.__cspViolations.length >= 2")
    assert page.evaluate("window.__inlineRan === undefined && window.__handlerRan === undefined")
    violations, console = supervisor.finish()
    assert sorted(violation["directive"] for violation in violations) == [
        "script-src-attr",
        "script-src-elem",
    ]
    assert all(violation["blocked"] == "inline" for violation in violations)
    assert len(console) == 2
