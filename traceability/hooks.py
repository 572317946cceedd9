"""What the lot services ask the apps above them, without importing them.

The receivers register in their app's ``AppConfig.ready`` (``mes_site.hooks``).
"""

from mes_site.hooks import Hook

lot_release_check = Hook(
    "lot_release_check",
    "lot_id: int, to_status: str — a lot leaves 'on hold'; a receiver raises a DomainError to"
    " refuse it (quality: a hold of its own needs a disposition); called under the lot's lock",
)
