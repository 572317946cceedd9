"""The maintenance work-order board: a site's orders in scope by state."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from maintenance.choices import MaintenanceState
from maintenance.selectors import maintenance_work_order_list

BOARD_COLUMNS = (
    (MaintenanceState.REQUESTED, "Requested"),
    (MaintenanceState.SCHEDULED, "Scheduled"),
    (MaintenanceState.IN_PROGRESS, "In progress"),
    (MaintenanceState.DONE, "Done (last 7 days)"),
)
DONE_SHOWN_FOR = timedelta(days=7)
CARDS_PER_COLUMN = 40


def maintenance_board(*, user, site_id: int, now: datetime | None = None) -> list[dict]:
    """One column per state with the orders of the site's machines the user may see: open
    ones by priority of their window (soonest first), done ones newest first."""
    now = now or timezone.now()
    orders = maintenance_work_order_list(user=user).filter(
        equipment__cell__line__area__site_id=site_id
    )
    columns = []
    for state, label in BOARD_COLUMNS:
        in_state = orders.filter(state=state)
        if state == MaintenanceState.DONE:
            in_state = in_state.filter(completed_at__gte=now - DONE_SHOWN_FOR).order_by(
                "-completed_at"
            )
        else:
            in_state = in_state.order_by("window_start_at", "requested_at", "id")
        cards = list(in_state[: CARDS_PER_COLUMN + 1])
        columns.append(
            {
                "state": state,
                "label": label,
                "orders": cards[:CARDS_PER_COLUMN],
                "more": len(cards) > CARDS_PER_COLUMN,
            }
        )
    return columns
