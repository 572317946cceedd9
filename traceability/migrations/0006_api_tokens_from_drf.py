"""DRF's plain-text tokens (``authtoken_token``) become hashed API tokens, then the table goes.

Each existing key keeps working (same ``Authorization: Token <key>``) until
``API_TOKEN_DEFAULT_TTL_DAYS`` from the migration; its owner sees it on "My API tokens" as
"migrated from DRF" and should rotate it. A database that never had DRF's table (a new
installation) has nothing to convert. The table is dropped so that no plain key stays in the
database; the rows of the ``authtoken`` app in ``django_migrations`` stay and are harmless.
"""

import hashlib
from datetime import timedelta

from django.conf import settings
from django.db import migrations
from django.utils import timezone

TABLE = "authtoken_token"


def plain_tokens_to_hashed(apps, schema_editor) -> None:
    connection = schema_editor.connection
    if TABLE not in connection.introspection.table_names():
        return
    ApiToken = apps.get_model("traceability", "ApiToken")
    now = timezone.now()
    expires_at = now + timedelta(days=settings.API_TOKEN_DEFAULT_TTL_DAYS)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT key, user_id, created FROM {TABLE}")  # noqa: S608 (constant)
        rows = cursor.fetchall()
        for key, user_id, created_at in rows:
            ApiToken.objects.create(
                user_id=user_id,
                name="migrated from DRF",
                prefix=key[:8],
                key_hash=hashlib.sha256(key.encode()).hexdigest(),
                created_at=created_at or now,
                expires_at=expires_at,
            )
        cursor.execute(f"DROP TABLE {TABLE}")


class Migration(migrations.Migration):
    dependencies = [("traceability", "0005_api_tokens")]

    # Irreversible on purpose: the plain keys are gone.
    operations = [migrations.RunPython(plain_tokens_to_hashed, elidable=False)]
