"""Plant simulator and edge agent (``python manage.py simulate_plant``).

The simulation itself is pure (no Django, no paho): :mod:`workers.simulator.simulation` turns a
:class:`~workers.simulator.model.PlantSpec`, a seed and a start time into the exact MQTT
messages (topic, payload) the plant publishes up to any instant. Its parts:

- :mod:`~workers.simulator.machine` — the equipment state machine (producing, minor stops,
  breakdowns, starved/blocked, setups between batches) and its good/scrap counts;
- :mod:`~workers.simulator.process_values` — temperature, power, spindle speed and any other
  numeric signal, following the equipment state;
- :mod:`~workers.simulator.edge_agent` — the 10 kHz vibration of a spindle bearing (from
  :mod:`maintenance.algorithms.synthetic`) reduced to window features at 1 Hz with
  :mod:`maintenance.algorithms.signal`; raw samples never leave it;
- :mod:`~workers.simulator.stations` — station events of customer orders on an assembly line;
- :mod:`~workers.simulator.sparkplug_node` — a Sparkplug B edge node (births, aliases, seq,
  rebirth on NCMD, death).

Only :mod:`~workers.simulator.publisher` (paho) and :mod:`~workers.simulator.selectors` (the
plant and orders read from the database) touch the outside world. docs/simulator.md describes
what is published.
"""
