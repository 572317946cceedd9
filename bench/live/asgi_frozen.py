"""The project's ASGI app with ``gc.freeze()`` after start-up (the benchmark's variant).

A full garbage collection of the loaded project (~180 000 objects) takes ~100 ms on the
benchmark machine and stalls every socket of the process. Freezing the objects that exist
after start-up keeps them out of later collections. Run with ``--freeze-gc``.
"""

import gc

from mes_site.asgi import application

gc.collect()
gc.freeze()

__all__ = ["application"]
