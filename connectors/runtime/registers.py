"""Modbus register arithmetic, pure: values across registers and the read plan.

A Modbus register holds 16 bits sent big-endian on the wire. Devices disagree about the rest:
the **byte order** inside each register (``big``: as sent; ``little``: the two bytes swapped)
and the **word order** of a 32-bit value (``big``: the first register holds the high word —
"ABCD"; ``little``: the first register holds the low word — "CDAB"). Both together give the
four layouts ABCD, CDAB, BADC and DCBA. The published value is ``raw × scale + offset``.

``read_plan`` groups the tags of a device into as few requests as the protocol allows:
contiguous (or nearly: gaps up to ``max_gap`` registers are read and ignored) runs of one kind,
at most 125 registers or 2000 bits per request.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from connectors.runtime.config import BIT_KINDS, ByteOrder, DataType, RegisterKind, TagConfig

MAX_REGISTERS_PER_READ: Final = 125
MAX_BITS_PER_READ: Final = 2000

_FORMATS: Final = {
    DataType.INT16: ">h",
    DataType.UINT16: ">H",
    DataType.INT32: ">i",
    DataType.UINT32: ">I",
    DataType.FLOAT32: ">f",
}


def registers_to_bytes(
    registers: Sequence[int], *, byte_order: ByteOrder, word_order: ByteOrder
) -> bytes:
    """The big-endian bytes of the value held in ``registers`` (in the device's layout)."""
    words = list(registers)
    if any(not 0 <= word <= 0xFFFF for word in words):
        raise ValueError(f"registers must be 0..65535, got {words}")
    if word_order is ByteOrder.LITTLE:
        words.reverse()
    data = b"".join(word.to_bytes(2, "big") for word in words)
    if byte_order is ByteOrder.LITTLE:
        data = b"".join(data[index : index + 2][::-1] for index in range(0, len(data), 2))
    return data


def bytes_to_registers(data: bytes, *, byte_order: ByteOrder, word_order: ByteOrder) -> list[int]:
    """The inverse of ``registers_to_bytes`` (servers in tests, the simulator)."""
    if byte_order is ByteOrder.LITTLE:
        data = b"".join(data[index : index + 2][::-1] for index in range(0, len(data), 2))
    words = [int.from_bytes(data[index : index + 2], "big") for index in range(0, len(data), 2)]
    if word_order is ByteOrder.LITTLE:
        words.reverse()
    return words


def registers_decode(
    registers: Sequence[int],
    data_type: DataType,
    *,
    byte_order: ByteOrder = ByteOrder.BIG,
    word_order: ByteOrder = ByteOrder.BIG,
) -> int | float:
    if data_type is DataType.BOOL:
        if len(registers) != 1:
            raise ValueError("a bool register is one register")
        return int(registers[0] != 0)
    data = registers_to_bytes(registers, byte_order=byte_order, word_order=word_order)
    (value,) = struct.unpack(_FORMATS[data_type], data)
    return value


def value_encode(
    value: float,
    data_type: DataType,
    *,
    byte_order: ByteOrder = ByteOrder.BIG,
    word_order: ByteOrder = ByteOrder.BIG,
) -> list[int]:
    """Registers holding ``value`` (raw, unscaled) in the given layout."""
    if data_type is DataType.BOOL:
        return [1 if value else 0]
    code = _FORMATS[data_type]
    data = struct.pack(code, value if data_type is DataType.FLOAT32 else int(value))
    return bytes_to_registers(data, byte_order=byte_order, word_order=word_order)


def tag_value(tag: TagConfig, registers: Sequence[int]) -> bool | float:
    """The published value of ``tag`` from its registers (or its one bit)."""
    if tag.register_kind in BIT_KINDS:
        return bool(registers[0])
    raw = registers_decode(
        registers, tag.data_type, byte_order=tag.byte_order, word_order=tag.word_order
    )
    if tag.data_type is DataType.BOOL:
        return bool(raw)
    if tag.data_type is DataType.FLOAT32:
        raw = float(f"{raw:.7g}")  # float32 holds 7 digits: 60.669, not 60.66899871826172
    return float(raw) * tag.scale + tag.offset


@dataclass(frozen=True)
class ReadBlock:
    kind: RegisterKind
    start: int
    count: int
    tags: tuple[TagConfig, ...]

    def slice_of(self, tag: TagConfig, values: Sequence[int]) -> Sequence[int]:
        begin = int(tag.address) - self.start
        return values[begin : begin + tag.register_count]


def read_plan(tags: Sequence[TagConfig], *, max_gap: int = 8) -> list[ReadBlock]:
    """Requests covering every tag, by kind and address."""
    blocks: list[ReadBlock] = []
    by_kind: dict[RegisterKind, list[TagConfig]] = {}
    for tag in tags:
        by_kind.setdefault(tag.register_kind, []).append(tag)
    for kind, kind_tags in by_kind.items():
        limit = MAX_BITS_PER_READ if kind in BIT_KINDS else MAX_REGISTERS_PER_READ
        ordered = sorted(kind_tags, key=lambda tag: int(tag.address))
        start = end = -1
        members: list[TagConfig] = []
        for tag in ordered:
            address = int(tag.address)
            tag_end = address + (1 if kind in BIT_KINDS else tag.register_count)
            if members and address - end <= max_gap and tag_end - start <= limit:
                end = max(end, tag_end)
                members.append(tag)
                continue
            if members:
                blocks.append(ReadBlock(kind, start, end - start, tuple(members)))
            start, end, members = address, tag_end, [tag]
        if members:
            blocks.append(ReadBlock(kind, start, end - start, tuple(members)))
    return blocks
