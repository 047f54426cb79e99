"""Worker processes (``workers: N``): a control process runs the namers, transformers, dtab
store, admin and exporters; N workers run the HTTP routers on shared ports (``SO_REUSEPORT``).

* ``supervisor`` (control) starts, feeds, gathers from and restarts the workers; ``worker``
  is a worker's message loop; ``channel`` the link between them; ``side`` what a worker's
  linker gets instead of namers and a dtab store; ``reserve`` the control's hold on the
  router ports; ``cpus`` the default count.
* ``codec`` (pure) turns binding states into the plain values the channel carries;
  ``remote_interpreter`` holds both ends of binding: the interpreter a worker's router uses,
  and the control's service that answers it with the router's real interpreter.
* ``stats_ship`` (worker) and ``stats_merge`` (control), pure: a worker's stats as deltas,
  merged exactly into the control's registry, which every exporter reads.
"""
