"""The second factor in tests: a real TOTP device per user and a session verified with it.

Users of the roles in MFA_REQUIRED_ROLES (admin, supervisor, quality by default; the tests
keep that default) must give a TOTP code after their password. ``login_verified`` logs a
test client in the way a person who typed both would be: the password step
(``force_login``) and the session marked with the device that accepted the code, which is
what ``django_otp.login`` writes.
"""

from __future__ import annotations

import time

from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice


def totp_device_for(user) -> TOTPDevice:
    """The user's confirmed TOTP device, created with a random key when missing."""
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    return device or TOTPDevice.objects.create(user=user, name="test app", confirmed=True)


def totp_code(device: TOTPDevice, *, at: float | None = None) -> str:
    """The code the authenticator app shows now (or at ``at``, Unix seconds) — the next
    unused time step if the current one was used already (a code works once)."""
    device.refresh_from_db()
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = at if at is not None else time.time()
    if totp.t() <= device.last_t:
        totp.time += (device.last_t + 1 - totp.t()) * device.step
    return f"{totp.token():0{device.digits}d}"


def login_verified(client, user):
    """Log ``client`` in as ``user`` with both factors given; returns the client."""
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = totp_device_for(user).persistent_id
    session.save()
    return client
