#!/usr/bin/env python3
"""A three-node Kubernetes-style cluster made of network namespaces, with l5d as a DaemonSet.

Run as root, with the project's virtualenv (it has ``requests`` and ``yaml``)::

    sudo .venv/bin/python examples/k8s-sim/sim.py up [--nodes 3] [--state DIR]
    sudo .venv/bin/python examples/k8s-sim/sim.py curl node-2 http://hello/
    sudo .venv/bin/python examples/k8s-sim/sim.py status
    sudo .venv/bin/python examples/k8s-sim/sim.py scale world-v1 node-3=2
    sudo .venv/bin/python examples/k8s-sim/sim.py measure
    sudo .venv/bin/python examples/k8s-sim/sim.py down

README.md beside this file says what ``up`` builds. The code is the ``k8s_sim`` package
beside it (one module per concern, listed in its ``__init__``); this file is the entry
point, also of the processes the sim runs itself (``_control``, ``_probe``).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the k8s_sim package beside us
from k8s_sim.cli import main

if __name__ == "__main__":
    sys.exit(main())
