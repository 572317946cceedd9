"""Multi-line order dispatch (pure, Django-free), DESIGN §6.4.

Modules:

* :mod:`.model` — lines, orders, cost weights, the online rule's decision, the input errors;
* :mod:`.validation` — refusing invalid lines, loads, weights and orders;
* :mod:`.online` — :func:`order_costs` and the online rule :func:`dispatch_order` (cost ratio
  above h: the cheapest line, else the lowest load);
* :mod:`.batch` — :func:`dispatch_batch`, many orders at once by an integer program (HiGHS);
* :mod:`.stream` — :func:`simulate_order_stream`, orders arriving over time, and
  :func:`random_order_stream`.
"""

from planning.algorithms.dispatch.batch import BatchAssignment, BatchResult, dispatch_batch
from planning.algorithms.dispatch.model import (
    CostWeights,
    Decision,
    DispatchConfig,
    DispatchInputError,
    DispatchRule,
    Line,
    LineCost,
    NoCapableLineError,
    NonPositiveQuantityError,
    Order,
    OrderTooLargeError,
    PartRate,
    UnknownPartTypeError,
)
from planning.algorithms.dispatch.online import dispatch_order, order_costs
from planning.algorithms.dispatch.stream import (
    LineStreamSummary,
    StreamResult,
    random_order_stream,
    simulate_order_stream,
)

__all__ = [
    "BatchAssignment",
    "BatchResult",
    "CostWeights",
    "Decision",
    "DispatchConfig",
    "DispatchInputError",
    "DispatchRule",
    "Line",
    "LineCost",
    "LineStreamSummary",
    "NoCapableLineError",
    "NonPositiveQuantityError",
    "Order",
    "OrderTooLargeError",
    "PartRate",
    "StreamResult",
    "UnknownPartTypeError",
    "dispatch_batch",
    "dispatch_order",
    "order_costs",
    "random_order_stream",
    "simulate_order_stream",
]
