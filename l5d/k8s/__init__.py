"""Kubernetes API access for the k8s namers and transformers.

``model`` and ``cache`` are pure (JSON in, values out); ``api``, ``access``,
``reflector`` and ``watches`` are the Twisted shell that lists and watches.
"""
