"""What machine health tells the apps above it, without importing them.

The receivers register in their app's ``AppConfig.ready`` (``mes_site.hooks``).
"""

from mes_site.hooks import Hook

health_changed = Hook(
    "health_changed",
    "site_id: int, detail: str — an equipment's health changed enough to re-plan (after commit)",
)
