"""Transformers: what a router does to bound names after binding (Linkerd's kinds).

``filters`` (pure) holds the per-host ones (``io.l5d.k8s.localnode``,
``io.l5d.localhost``, ``io.l5d.specificHost``, ``io.l5d.port``), ``gateway`` the
daemonset one, ``replace`` ``io.l5d.replace`` and ``io.l5d.const``; ``build`` turns a
config into one of them. The machinery they share is :mod:`dtab.transform`.
"""
