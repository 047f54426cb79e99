"""The dtab store: each router's base dtab, versioned, saved in a backend (see
:mod:`l5d.dtab_store.model` for the values and :mod:`l5d.dtab_store.backend` for the
backend protocol)."""
