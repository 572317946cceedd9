"""Acceptance sampling by attributes: ISO 2859-1:1999 single sampling, normal inspection.

Source of the tables: ISO 2859-1:1999 "Sampling procedures for inspection by attributes —
Part 1", Table 1 (sample size code letters) and Table 2-A (single sampling plans for normal
inspection, master table). The same tables are ANSI/ASQ Z1.4 Tables I and II-A and
MIL-STD-105E Tables I and II-A.

Table 2-A is stored the way it is printed: along each diagonal (one code letter down, one AQL
step left) the acceptance/rejection numbers are the same, so a cell is a function of the sum
of the code letter's row index and the AQL's column index. Cells with an arrow send the user
to the first plan below (↓) or above (↑) in the same column, and that plan's sample size
applies. Two cells of the last row (R at AQL 0.010 and 0.015) have no plan below them; they
take the first plan above (our reading, noted in docs/quality.md).

Pure: no Django. ``ValueError`` on an unknown level, an AQL not in the table or a lot size
below 2.
"""

from __future__ import annotations

from dataclasses import dataclass

INSPECTION_LEVELS = ("S-1", "S-2", "S-3", "S-4", "I", "II", "III")

# Table 1: (upper bound of the lot size range, code letters for S-1, S-2, S-3, S-4, I, II, III)
_CODE_LETTERS: tuple[tuple[int | None, str], ...] = (
    (8, "AAAAAAB"),
    (15, "AAAAABC"),
    (25, "AABBBCD"),
    (50, "ABBCCDE"),
    (90, "BBCCCEF"),
    (150, "BBCDDFG"),
    (280, "BCDEEGH"),
    (500, "BCDEFHJ"),
    (1200, "CCEFGJK"),
    (3200, "CDEGHKL"),
    (10000, "CDFGJLM"),
    (35000, "CDFHKMN"),
    (150000, "DEGJLNP"),
    (500000, "DEGJMPQ"),
    (None, "DEHKNQR"),
)

# Table 2-A: code letters (rows, top to bottom) with their sample sizes
SAMPLE_SIZES: dict[str, int] = {
    "A": 2, "B": 3, "C": 5, "D": 8, "E": 13, "F": 20, "G": 32, "H": 50,
    "J": 80, "K": 125, "L": 200, "M": 315, "N": 500, "P": 800, "Q": 1250, "R": 2000,
}  # fmt: skip
_LETTERS = tuple(SAMPLE_SIZES)

# Table 2-A columns: AQL in percent nonconforming (≤ 10) or nonconformities per 100 units
AQL_VALUES: tuple[float, ...] = (
    0.010, 0.015, 0.025, 0.040, 0.065, 0.10, 0.15, 0.25, 0.40, 0.65, 1.0, 1.5, 2.5, 4.0, 6.5,
    10, 15, 25, 40, 65, 100, 150, 250, 400, 650, 1000,
)  # fmt: skip

# Cells by diagonal (row index + column index): (Ac, Re), or "down" / "up" for the arrows
_DIAGONAL_FIRST_PLAN = 14  # A at 6.5, J at 0.15, Q at 0.010: Ac 0, Re 1
_DIAGONAL_PLANS: dict[int, tuple[int, int] | str] = {
    14: (0, 1),
    15: "down",
    16: "down",
    17: (1, 2),
    18: (2, 3),
    19: (3, 4),
    20: (5, 6),
    21: (7, 8),
    22: (10, 11),
    23: (14, 15),
    24: (21, 22),
}
# The two largest plans appear only in the upper right corner of the table: Ac 30 from AQL
# 150 upwards, Ac 44 from AQL 250 upwards; elsewhere those diagonals are ↑.
_LARGE_PLANS: dict[int, tuple[float, tuple[int, int]]] = {25: (150, (30, 31)), 26: (250, (44, 45))}


@dataclass(frozen=True)
class SamplingPlan:
    lot_size: int
    inspection_level: str
    aql: float
    code_letter: str  # the letter of Table 1 for the lot size and level
    plan_letter: str  # the row whose plan applies after following the arrows
    sample_size: int  # never more than the lot (100 % inspection then)
    acceptance_number: int
    rejection_number: int

    def accepts(self, nonconforming: int) -> bool:
        """The lot is accepted with at most Ac nonconforming items (or nonconformities)."""
        if nonconforming < 0:
            raise ValueError("The count of nonconforming items cannot be negative.")
        return nonconforming <= self.acceptance_number


def code_letter(lot_size: int, inspection_level: str) -> str:
    """Table 1: the sample size code letter of a lot size at an inspection level."""
    if inspection_level not in INSPECTION_LEVELS:
        raise ValueError(
            f"Unknown inspection level {inspection_level!r}; one of {', '.join(INSPECTION_LEVELS)}."
        )
    if lot_size < 2:
        raise ValueError("ISO 2859-1 starts at a lot of 2 items.")
    column = INSPECTION_LEVELS.index(inspection_level)
    for upper, letters in _CODE_LETTERS:
        if upper is None or lot_size <= upper:
            return letters[column]
    raise AssertionError("unreachable: the last range is open")


def _aql_index(aql: float) -> int:
    for index, value in enumerate(AQL_VALUES):
        if abs(value - aql) <= 1e-9 * max(1.0, value):
            return index
    raise ValueError(f"AQL {aql} is not a column of ISO 2859-1 Table 2-A.")


def _cell(row: int, column: int) -> tuple[int, int] | str:
    diagonal = row + column
    if diagonal < _DIAGONAL_FIRST_PLAN:
        return "down"
    if diagonal in _DIAGONAL_PLANS:
        return _DIAGONAL_PLANS[diagonal]
    if diagonal in _LARGE_PLANS:
        smallest_aql, plan = _LARGE_PLANS[diagonal]
        return plan if AQL_VALUES[column] >= smallest_aql else "up"
    return "up"


def table_2a(letter: str, aql: float) -> tuple[int, int] | str:
    """One cell of Table 2-A as printed: (Ac, Re), "down" or "up"."""
    if letter not in SAMPLE_SIZES:
        raise ValueError(f"Unknown code letter {letter!r}.")
    return _cell(_LETTERS.index(letter), _aql_index(aql))


def single_sampling_plan(*, lot_size: int, inspection_level: str, aql: float) -> SamplingPlan:
    """The single sampling plan for normal inspection: code letter, n, Ac and Re."""
    letter = code_letter(lot_size, inspection_level)
    column = _aql_index(aql)
    row = _LETTERS.index(letter)
    cell = _cell(row, column)
    step = 1 if cell == "down" else -1
    while isinstance(cell, str):
        row += step
        if row == len(_LETTERS):  # below R: take the first plan above instead
            step, row = -1, _LETTERS.index(letter) - 1
        cell = _cell(row, column)
    plan_letter = _LETTERS[row]
    acceptance, rejection = cell
    return SamplingPlan(
        lot_size=lot_size,
        inspection_level=inspection_level,
        aql=AQL_VALUES[column],
        code_letter=letter,
        plan_letter=plan_letter,
        sample_size=min(SAMPLE_SIZES[plan_letter], lot_size),
        acceptance_number=acceptance,
        rejection_number=rejection,
    )


def every_nth_is_due(*, sequence_number: int, every_n: int) -> bool:
    """Every n-th part is inspected: the n-th, 2n-th, … (sequence numbers start at 1)."""
    if every_n < 1:
        raise ValueError("Inspect every n-th part needs n ≥ 1.")
    if sequence_number < 1:
        raise ValueError("Part sequence numbers start at 1.")
    return sequence_number % every_n == 0
