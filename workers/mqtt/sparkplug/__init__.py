"""Sparkplug B (Eclipse Sparkplug 3.0) for the host application. Pure, Django-free.

The codec: ``model`` (constants, message types, datatypes, decoded values), ``topics``,
``values`` (value fields and their interpretation), ``decode`` and ``encode``. The host
session: ``session`` (births, deaths, sequence numbers and the reorder window, rebirth
requests), ``session_model`` (its settings and outputs) and ``resolve`` (metrics resolved
against their birth, also for deferred data messages).

Payloads are the protobuf ``Payload`` of ``sparkplug_b.proto`` (generated ``sparkplug_b_pb2``).
Values: signed integers are stored on the wire as two's complement in ``int_value`` (uint32) or
``long_value`` (uint64) and are returned as Python ints with their sign; ``DateTime`` values are
returned as epoch milliseconds (int); arrays as tuples; ``DataSet`` and ``Template`` as frozen
dataclasses. Data messages may omit the datatype: the value is then returned as carried on the
wire and ``interpret_metric_value`` converts it once the birth's datatype is known.
"""
