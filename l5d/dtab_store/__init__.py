"""The dtab store: a versioned base dtab per router, saved edits that change routing.

:mod:`~l5d.dtab_store.model` holds the values (pure), :mod:`~l5d.dtab_store.backend` the
protocol every backend implements, :mod:`~l5d.dtab_store.store` the
:class:`~l5d.dtab_store.store.DtabStore` the routers and the admin use, and
:mod:`~l5d.dtab_store.build` turns ``dtabStore`` config into a backend.
"""
