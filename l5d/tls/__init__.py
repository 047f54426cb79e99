"""TLS for servers, clients and the admin server.

:mod:`l5d.tls.config` (pure) holds the ``tls`` keys; :mod:`l5d.tls.verdict` (pure)
names a failed check; :mod:`l5d.tls.context` makes and re-reads pyOpenSSL contexts
(through ``twisted.internet.ssl``); :mod:`l5d.tls.transport` puts TLS over the
immediate-write TCP transports. See docs/tls.md.
"""
