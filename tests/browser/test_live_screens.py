"""The live screens in a real browser (Chromium) against daphne and the real channel layer.

Screenshots go to test-artifacts/ (the current ones are copied to docs/screenshots/).
"""

from __future__ import annotations

import pytest

from autonomy.models import ProposedAction
from production.models import EquipmentStateInterval, Operation, Site, WorkOrder

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LIVE = "[data-live-indicator][data-state=live]"


def test_a_stop_classified_on_the_hmi_appears_on_the_dashboard_without_a_reload(
    open_page, live_scene, screenshot
):
    stop_id = live_scene["stop_to_classify"]
    dashboard = open_page("supervisor", "supervisor-demo", "/")
    dashboard.wait_for_selector(LIVE)
    dashboard.evaluate("window.__sameDocument = 'yes'")
    dashboard_stop = dashboard.locator(f"[data-panel=stops] [data-stop='{stop_id}'] .stop-reason")
    assert dashboard_stop.inner_text() == "needs a reason"
    screenshot(dashboard, "dashboard")

    station = f"/hmi/station/{live_scene['spindle_7']}/"
    hmi = open_page("operator", "operator-demo", station, width=1024, height=768)
    hmi.wait_for_selector(LIVE)
    assert hmi.locator(".state-panel .state-word").inner_text() == "DOWN"
    screenshot(hmi, "hmi")
    hmi.click(f"[data-stop='{stop_id}'] button[data-command=classify]")
    hmi.click("#reason-dialog .reason-level:not([hidden]) >> text=Breakdown")
    hmi.click("#reason-dialog .reason-level:not([hidden]) >> text=Mechanical failure")
    screenshot(hmi, "hmi-reason-picker")
    hmi.click("#reason-dialog .reason-level:not([hidden]) >> text=Spindle failure")
    hmi.wait_for_selector(f"[data-stop='{stop_id}'] .stop-reason:text('Spindle failure')")

    dashboard.wait_for_selector(
        f"[data-panel=stops] [data-stop='{stop_id}'] .stop-reason:has-text('Spindle failure')"
    )
    assert dashboard.evaluate("window.__sameDocument") == "yes"  # no reload happened
    assert "by operator" in dashboard_stop.inner_text()
    interval = EquipmentStateInterval.objects.select_related("reason", "classified_by").get(
        pk=stop_id
    )
    assert interval.reason.code == "BREAKDOWN_SPINDLE"
    assert interval.classified_by.username == "operator"
    assert interval.needs_reason is False


def test_a_supervisor_approves_an_action_with_their_password_and_uses_the_kill_switch(
    open_page, live_scene, screenshot
):
    action_id = live_scene["waiting_actions"][0]
    page = open_page("supervisor", "supervisor-demo", "/")
    page.wait_for_selector(LIVE)
    row = page.locator(f".actions-open li[data-action='{action_id}']")
    row.locator("button[data-command=action-approve]").click()
    page.fill("#decision-password", "not-my-password")
    page.click("#decision-submit")
    page.wait_for_selector(
        "#decision-error:has-text('The signature was refused: the password is not correct.')"
    )
    assert ProposedAction.objects.get(pk=action_id).status == "awaiting_approval"
    screenshot(page, "dashboard-approve-refused")

    page.fill("#decision-password", "supervisor-demo")
    page.click("#decision-submit")
    page.wait_for_selector("#decision-dialog", state="hidden")
    page.wait_for_selector(f".actions-recent li[data-action='{action_id}'][data-status=applied]")
    assert row.count() == 0
    assert (
        "signed by supervisor"
        in page.locator(f".actions-recent li[data-action='{action_id}']").inner_text()
    )
    action = ProposedAction.objects.get(pk=action_id)
    assert action.status == "applied"
    assert action.signature_name == "supervisor"
    assert action.signature_meaning == "Approval"
    assert WorkOrder.objects.get(pk=action.payload["work_order_id"]).priority == 2

    page.click("button[data-command=kill-switch]")
    page.fill("#decision-reason", "line trial, hands off")
    page.click("#decision-submit")
    page.wait_for_selector("[data-autonomy-mode=off] .mode-off")
    assert page.locator("button[data-command=kill-switch]").is_disabled()
    assert Site.objects.get(pk=live_scene["site"]).autonomy_mode == "off"


def test_the_hmi_shows_disconnected_while_the_server_is_away_and_recovers(
    open_page, live_scene, asgi_server, screenshot
):
    station = f"/hmi/station/{live_scene['spindle_7']}/"
    hmi = open_page("operator", "operator-demo", station, width=1024, height=768)
    hmi.wait_for_selector(LIVE)
    asgi_server.stop()
    hmi.wait_for_selector("[data-live-indicator][data-state=disconnected]", timeout=20_000)
    assert (
        hmi.locator("[data-live-indicator]").inner_text().startswith("Disconnected · retrying in")
    )
    screenshot(hmi, "hmi-disconnected")
    asgi_server.start()
    hmi.wait_for_selector(LIVE, timeout=45_000)
    assert hmi.locator("[data-live-indicator]").inner_text() == "Live"


def test_a_double_tapped_hmi_button_books_once(open_page, live_scene):
    operation_id = live_scene["running_operations"]["WO-DEMO-1001"]
    before = Operation.objects.get(pk=operation_id).quantity_good
    station = f"/hmi/station/{live_scene['spindle_7']}/"
    hmi = open_page("operator", "operator-demo", station, width=1024, height=768)
    hmi.wait_for_selector(LIVE)
    hmi.dblclick("button[data-command=report-good]")
    hmi.wait_for_selector(f"[data-count=good]:text('{before + 1}')")
    hmi.wait_for_timeout(1500)  # let any second request land before counting
    assert Operation.objects.get(pk=operation_id).quantity_good == before + 1
    assert hmi.locator("[data-count=good]").inner_text() == str(before + 1)


def test_the_equipment_page_draws_history_and_health(open_page, live_scene, screenshot):
    page = open_page("supervisor", "supervisor-demo", f"/equipment/{live_scene['spindle_7']}/")
    page.wait_for_selector(LIVE)
    for name in ("temperature", "power", "spindle_speed", "vibration_rms", "vibration_kurtosis"):
        page.wait_for_selector(f"[data-signal={name}] svg polyline.line")
    # 60 points of history, plus the live point the current-values push adds when the latest
    # value is newer than the history's last point
    range_text = page.locator("[data-signal=temperature] [data-range]").inner_text()
    assert range_text.endswith(("60 points", "61 points")), range_text
    assert page.locator("[data-signal=temperature] [data-latest]").inner_text().endswith("degC")
    assert page.locator("[data-feature=vibration_rms] [data-latest]").inner_text() == "3.38"
    assert "0.7" in page.locator("table.grid >> text=Anomaly α >> xpath=..").inner_text()
    screenshot(page, "equipment")
