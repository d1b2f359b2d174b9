"""Print, as one JSON line, what importing storelink and loading one platform cost here.

Usage: ``python bench/loadtime.py SLUG``. Keys: ``import`` and ``load`` (seconds, on
``time.perf_counter``), ``generated`` (how many generated benchmark plugin modules are
imported afterwards: loading one platform must import only that one).
"""

from __future__ import annotations

import time

t0 = time.perf_counter()
import storelink  # noqa: E402  # timed on purpose

t1 = time.perf_counter()

import json  # noqa: E402
import sys  # noqa: E402

storelink.get_platform(sys.argv[1])
t2 = time.perf_counter()
generated = sum(1 for name in sys.modules if name.startswith("storelink_benchp"))
print(json.dumps({"import": t1 - t0, "load": t2 - t1, "generated": generated}))
