"""``l5d dtab delegate|bind --config``: resolve a path the way a configured router does (edge).

The config is parsed and built like ``l5d`` itself does it (same namers, same
transformers, the environment read from the process), but no port is opened: only
the namers start. A path that a namer answers at once (``io.l5d.fs``) is resolved
without a reactor; one that waits for the Kubernetes API runs the global reactor
until the namers answer or ``timeout`` passes.
"""

from __future__ import annotations

import io
from typing import IO, Any, Mapping

from dtab import PENDING, Dtab, Path, State
from l5d.config import ConfigError

__all__ = ["resolve"]

POLL_S = 0.05


def resolve(config_path: str, label: str | None, override: Dtab, path: Path, command: str,
            timeout_s: float, environ: Mapping[str, str], stderr: IO[str],
            reactor: Any) -> State | None:
    """The delegate tree (``command`` ``delegate``) or bound tree (``bind``) of ``path``;
    ``None`` (after saying why on ``stderr``) for bad input.

    :param reactor: run (only) when a namer has to wait for the network.
    """
    from l5d.linker import build
    from l5d.main import env_from, load_config

    config = load_config(config_path, io.StringIO(), stderr)
    if config is None:
        return None
    try:
        linker = build(config, env_from(environ), reactor)
    except ConfigError as err:
        if err.source == "<config>":
            err = ConfigError(err.message, key_path=err.key_path, source=config_path)
        stderr.write(f"{err}\n")
        return None
    routers = linker.routers
    router = routers[0] if label is None else next((r for r in routers if r.label == label),
                                                   None)
    if router is None:
        labels = ", ".join(r.label for r in routers)
        stderr.write(f"l5d dtab: {config_path} has no router {label!r} (routers: {labels})\n")
        return None
    interpreter = router.interpreter
    dtab = router.base_dtab() + override
    ask = interpreter.delegate if command == "delegate" else interpreter.bind

    linker.k8s.start()
    for _, namer in linker.namers:
        start = getattr(namer, "start", None)
        if start is not None:
            start()
    state = ask(dtab, path)
    if state is PENDING:
        state = _wait(reactor, lambda: ask(dtab, path), timeout_s)
    for _, namer in linker.namers:
        stop = getattr(namer, "stop", None)
        if stop is not None:
            stop()
    linker.k8s.stop()
    return state


def _wait(reactor: Any, ask: Any, timeout_s: float) -> State:
    """Run the reactor until ``ask()`` is not pending or ``timeout_s`` passes."""
    result: list[State] = [PENDING]
    deadline = reactor.seconds() + timeout_s

    def poll() -> None:
        result[0] = ask()
        if result[0] is PENDING and reactor.seconds() < deadline:
            reactor.callLater(POLL_S, poll)
        else:
            reactor.stop()

    reactor.callWhenRunning(poll)
    reactor.run(installSignalHandlers=False)
    return result[0]
