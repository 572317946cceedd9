"""Reads of the guardrails, with the user's plant scope built in."""

from django.db.models import QuerySet

from autonomy.models import ProposedAction
from mes_site.scope import scope_filter


def proposed_action_list(*, user) -> QuerySet[ProposedAction]:
    return scope_filter(
        ProposedAction.objects.select_related(
            "site", "decided_by", "reverted_by", "signature__signer"
        ),
        user,
        line=None,
        site="site_id",
    )
