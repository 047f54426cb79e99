"""Live reload: a pure plan of what a new config changes (:mod:`l5d.reload.plan`), applied
to a running :class:`~l5d.linker.Linker` by :mod:`l5d.reload.swap` (Twisted shell)."""

from l5d.reload.plan import ReloadPlan, ServerKey, plan_reload

__all__ = ["ReloadPlan", "ServerKey", "plan_reload"]
