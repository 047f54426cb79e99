"""A three-node Kubernetes-style cluster made of network namespaces, with l5d as a DaemonSet.

The code behind ``examples/k8s-sim/sim.py`` (the command people run), one concern per
module:

* :mod:`.layout`: names, addresses, ports, services, placement and file paths;
* :mod:`.procs`: host commands and processes, bounded waits, :class:`~.procs.SimError`;
* :mod:`.state`: the state directory (``state.json``, ``api.json``);
* :mod:`.network`: the bridge, the node namespaces, veths and ``/etc/netns`` files;
* :mod:`.apiserver`: the API-server control process, its ``10.244.0.1:443`` forwarder and
  its restart;
* :mod:`.objects`: Services, Endpoints, RBAC, credentials and the l5d ConfigMap in the API;
* :mod:`.node_processes`: what runs in a node (l5d, ``kubectl proxy``, demo pods);
* :mod:`.mesh`: requests through the mesh, and waiting until it routes;
* :mod:`.cluster`: ``up``, ``down``, ``status``, ``restart-l5d``, ``exec`` and ``curl``;
* :mod:`.scaling`: ``scale``, one Endpoints write;
* :mod:`.faults`: a pod's process killed and restarted as the kubelet does, an l5d
  worker killed;
* :mod:`.probe`: an app sending requests continuously from inside a node;
* :mod:`.measure`: how fast Endpoints changes take effect;
* :mod:`.cli`: the command line.

The API helpers come from the project's ``tests/helpers/k8s_api.py``, so importing this
package puts the repository root on ``sys.path``.
"""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[3])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)
