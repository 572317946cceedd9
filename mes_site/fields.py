"""Serializer fields for API input: JSON numbers only, and integers within their column's range.

Every serializer in the project takes its numeric fields and its ModelSerializer base from here
(a test in ``tests/test_api_hardening.py`` keeps it so):

- an integer is a JSON integer — not ``"40"``, ``40.0`` or ``true`` — and a float a JSON
  number; strings are accepted only when the serializer reads a query string;
- a plain ``IntegerField`` is bounded by PostgreSQL's ``integer`` range unless it says
  otherwise, so an out-of-range value is a field error instead of a database error;
- a ``ModelSerializer`` maps each integer model field to these fields, bounded by the range
  Django gives the column (``PositiveSmallIntegerField`` 0..32767, ``BigIntegerField`` the
  64-bit range…).
"""

from __future__ import annotations

from django.db import models
from django.http import QueryDict
from rest_framework import serializers

INTEGER_MIN = -(2**31)
INTEGER_MAX = 2**31 - 1
BIGINT_MIN = -(2**63)
BIGINT_MAX = 2**63 - 1


def _reads_query_string(field: serializers.Field) -> bool:
    """Query-string values are always strings: there a number may be spelt as one."""
    return isinstance(getattr(field.root, "initial_data", None), QueryDict)


class IntegerField(serializers.IntegerField):
    """A JSON integer, within PostgreSQL's ``integer`` range unless bounds are given."""

    default_min_value = INTEGER_MIN
    default_max_value = INTEGER_MAX

    def __init__(self, **kwargs):
        if kwargs.get("min_value") is None:
            kwargs["min_value"] = self.default_min_value
        if kwargs.get("max_value") is None:
            kwargs["max_value"] = self.default_max_value
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, bool | float) or (
            isinstance(data, str) and not _reads_query_string(self)
        ):
            self.fail("invalid")
        return super().to_internal_value(data)


class BigIntegerField(IntegerField, serializers.BigIntegerField):
    """A JSON integer within PostgreSQL's ``bigint`` range."""

    default_min_value = BIGINT_MIN
    default_max_value = BIGINT_MAX


class FloatField(serializers.FloatField):
    """A finite JSON number (an integer is fine; a string or a boolean is not)."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or (isinstance(data, str) and not _reads_query_string(self)):
            self.fail("invalid")
        return super().to_internal_value(data)


class ModelSerializer(serializers.ModelSerializer):
    """The project's ModelSerializer: numeric model fields become the strict fields above,
    with the column's range as their bounds."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.AutoField: IntegerField,
        models.BigAutoField: BigIntegerField,
        models.BigIntegerField: BigIntegerField,
        models.FloatField: FloatField,
        models.IntegerField: IntegerField,
        models.PositiveBigIntegerField: BigIntegerField,
        models.PositiveIntegerField: IntegerField,
        models.PositiveSmallIntegerField: IntegerField,
        models.SmallAutoField: IntegerField,
        models.SmallIntegerField: IntegerField,
    }
