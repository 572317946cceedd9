"""Modbus register arithmetic (pure): the four layouts of a 32-bit value, scaling, the plan."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.runtime.config import ByteOrder, DataType, RegisterKind, TagConfig
from connectors.runtime.registers import (
    read_plan,
    registers_decode,
    tag_value,
    value_encode,
)

BIG, LITTLE = ByteOrder.BIG, ByteOrder.LITTLE
# 12.5 as float32 is 0x41480000: bytes A=41 B=48 C=00 D=00.
LAYOUTS = [
    (BIG, BIG, [0x4148, 0x0000]),  # ABCD
    (BIG, LITTLE, [0x0000, 0x4148]),  # CDAB
    (LITTLE, BIG, [0x4841, 0x0000]),  # BADC
    (LITTLE, LITTLE, [0x0000, 0x4841]),  # DCBA
]


@pytest.mark.parametrize(("byte_order", "word_order", "registers"), LAYOUTS)
def test_float32_in_each_layout(byte_order, word_order, registers) -> None:
    assert (
        registers_decode(registers, DataType.FLOAT32, byte_order=byte_order, word_order=word_order)
        == 12.5
    )
    assert (
        value_encode(12.5, DataType.FLOAT32, byte_order=byte_order, word_order=word_order)
        == registers
    )


def test_integers_and_their_signs() -> None:
    assert registers_decode([0xFFFF], DataType.INT16) == -1
    assert registers_decode([0xFFFF], DataType.UINT16) == 65535
    assert registers_decode([0x0001, 0x0002], DataType.INT32) == 65538
    assert registers_decode([0x0002, 0x0001], DataType.INT32, word_order=LITTLE) == 65538
    assert registers_decode([0xFFFF, 0xFFFE], DataType.INT32) == -2
    assert registers_decode([0xFFFF, 0xFFFE], DataType.UINT32) == 0xFFFFFFFE


def test_a_tag_value_is_scaled_and_offset() -> None:
    tag = TagConfig("p", "s", "0", data_type=DataType.INT16, scale=0.1, offset=-40.0)
    assert tag_value(tag, [655]) == pytest.approx(25.5)
    coil = TagConfig("p", "s", "3", register_kind=RegisterKind.COIL, data_type=DataType.BOOL)
    assert tag_value(coil, [1]) is True


@given(
    value=st.floats(width=32, allow_nan=False, allow_infinity=False),
    byte_order=st.sampled_from(ByteOrder),
    word_order=st.sampled_from(ByteOrder),
)
def test_float32_round_trips_in_every_layout(value, byte_order, word_order) -> None:
    registers = value_encode(value, DataType.FLOAT32, byte_order=byte_order, word_order=word_order)
    decoded = registers_decode(
        registers, DataType.FLOAT32, byte_order=byte_order, word_order=word_order
    )
    assert struct.pack(">f", decoded) == struct.pack(">f", value)


def test_registers_out_of_range_are_refused() -> None:
    with pytest.raises(ValueError, match=r"0\.\.65535"):
        registers_decode([70000, 0], DataType.INT32)


def _tag(address: int, kind=RegisterKind.HOLDING, data_type=DataType.INT16) -> TagConfig:
    return TagConfig("p", f"s{address}", str(address), register_kind=kind, data_type=data_type)


def test_the_plan_reads_near_tags_together_and_respects_the_request_size() -> None:
    tags = [
        _tag(0),
        _tag(1, data_type=DataType.FLOAT32),  # 1..2
        _tag(10),  # a gap of 7: same request
        _tag(100),  # far: a new request
        _tag(5, kind=RegisterKind.INPUT),
        _tag(3, kind=RegisterKind.COIL, data_type=DataType.BOOL),
    ]
    plan = [(block.kind, block.start, block.count, len(block.tags)) for block in read_plan(tags)]
    assert plan == [
        (RegisterKind.HOLDING, 0, 11, 3),
        (RegisterKind.HOLDING, 100, 1, 1),
        (RegisterKind.INPUT, 5, 1, 1),
        (RegisterKind.COIL, 3, 1, 1),
    ]
    many = [_tag(address) for address in range(1000)]
    blocks = read_plan(many)
    assert [block.count for block in blocks] == [125] * 8
    assert sum(len(block.tags) for block in blocks) == 1000
