"""The badge/PIN check of the HMI station login, as a Django authentication backend.

Called through ``django.contrib.auth.authenticate(request, badge=..., pin=..., station=...)``
so that whatever wraps authentication (django-axes' lockout, the ``user_login_failed``
signal) applies to it as to a password. A badge logs in only at a station of a line the
user's own plant scope allows; the session it opens is narrowed further to that line by
``live.station_session``.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import BaseBackend
from django.contrib.auth.hashers import check_password, make_password

from mes_site.scope import scope_get
from production.models import Equipment, OperatorBadge

# Hashed when the badge is unknown, so that an unknown badge takes as long as a wrong PIN.
_DUMMY_PIN_HASH = make_password("0000")


class StationPinBackend(BaseBackend):
    def authenticate(self, request, badge=None, pin=None, station=None, **kwargs):
        if not badge or not pin or station is None:
            return None
        badge_row = OperatorBadge.objects.select_related("user").filter(badge_id=str(badge)).first()
        if badge_row is None:
            check_password(str(pin), _DUMMY_PIN_HASH)
            return None
        if not check_password(str(pin), badge_row.pin_hash):
            return None
        user = badge_row.user
        if not user.is_active:
            return None
        equipment = (
            Equipment.objects.select_related("cell__line__area")
            .filter(pk=station, is_active=True)
            .first()
        )
        if equipment is None:
            return None
        line = equipment.cell.line
        if not scope_get(user).allows_line(line.pk, line.area.site_id):
            return None
        return user

    def get_user(self, user_id):
        return get_user_model().objects.filter(pk=user_id, is_active=True).first()
