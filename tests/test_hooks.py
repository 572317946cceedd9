"""mes_site.hooks: how an app below calls up into the apps that registered."""

from mes_site.hooks import Hook


def test_a_hook_calls_its_receivers_in_registration_order_once_each() -> None:
    hook = Hook("something_happened", "thing_id: int")
    calls: list[tuple[str, int]] = []

    def first(*, thing_id: int) -> str:
        calls.append(("first", thing_id))
        return "a"

    def second(*, thing_id: int) -> str:
        calls.append(("second", thing_id))
        return "b"

    hook.register(first)
    hook.register(second)
    hook.register(first)  # registering again changes nothing

    assert hook(thing_id=7) == ["a", "b"]
    assert calls == [("first", 7), ("second", 7)]


def test_a_hook_without_receivers_does_nothing() -> None:
    assert Hook("nobody_listens", "thing_id: int")(thing_id=1) == []


def test_the_apps_register_their_receivers_at_start_up(db) -> None:
    from maintenance.hooks import health_changed
    from maintenance.tasks import health_refresh_schedule
    from planning.services.line_orders import line_order_events_ingest
    from planning.services.schedule_runs import health_changed_receive
    from workers.hooks import station_events_received, vibration_features_stored

    assert health_changed._receivers == [health_changed_receive]
    assert station_events_received._receivers == [line_order_events_ingest]
    assert vibration_features_stored._receivers == [health_refresh_schedule]
