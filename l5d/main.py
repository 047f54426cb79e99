"""The process edge: command line, environment, config file, global reactor.

The only module that reads ``sys.argv``, ``os.environ`` or files, imports the
global reactor, or wires ``l5d`` to ``admin_ui``. Everything else gets what
it needs passed in. Forms::

    l5d CONFIG              run the linker (CONFIG is a file, or - for stdin)
    l5d --validate CONFIG   parse + build (every check, no sockets); print "CONFIG: ok"
    l5d dtab ...            the dtab tools (l5d.cli.dtab_cmd)

A bad config prints the :class:`~l5d.config.ConfigError` line on stderr and
exits 1 with nothing started. A running linker stops on SIGTERM, SIGINT or
``POST /admin/shutdown`` and exits 0. While it runs, log lines (Python ``logging``,
Twisted's own warnings bridged into it) go to stderr as
``2024-05-01T12:00:00.123Z WARNING l5d.router: ...`` (UTC); see docs/logging.md.
SIGHUP, ``POST /admin/reload`` and (with ``configReload.watch``) a change of the file
reload the config while serving (docs/reload.md); with ``httpAccessLogRollPolicy: sighup``
SIGHUP also reopens the access logs.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import time
from types import MappingProxyType
from typing import IO, Any, Mapping, Sequence

import l5d._lean  # noqa: F401  (first: Twisted without pyOpenSSL; see l5d/_lean.py)
from l5d.config import ConfigError, LinkerConfig, load_installed_plugins, parse_config
from l5d.config.access_log import RollKind
from l5d.linker import Env, Linker, build
from l5d.telemetry.log_levels import LogLevels
from l5d.telemetry.process import ProcessProbe
from l5d.workers.procs import WORKER_FLAG

__all__ = ["USAGE", "main", "run"]

#: the stderr log line: UTC time to the millisecond, level, logger, message
LOG_FORMAT = "%(asctime)s.%(msecs)03dZ %(levelname)s %(name)s: %(message)s"
LOG_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"

log = logging.getLogger("l5d")

USAGE = """\
usage: l5d CONFIG              run the linker; CONFIG is a linkerd.yaml file, or - for stdin
       l5d --validate CONFIG   parse and build CONFIG (all checks, no sockets), print "CONFIG: ok"
       l5d dtab ...            dtab tools (see: l5d dtab --help)
       l5d --help              show this help
"""



def run() -> None:
    """Console-script entry point (``l5d``)."""
    sys.exit(main(sys.argv[1:], os.environ))


def main(
    argv: Sequence[str],
    environ: Mapping[str, str],
    *,
    stdin: IO[str] | None = None,
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
) -> int:
    """Run the command line ``argv`` (without the program name); return the exit code.

    :param environ: the process environment (``POD_IP``, ``NODE_NAME``, ``POD_NAMESPACE``).
    :param stdin: default ``sys.stdin``; likewise ``stdout`` and ``stderr``.
    """
    stdin = sys.stdin if stdin is None else stdin
    stdout = sys.stdout if stdout is None else stdout
    stderr = sys.stderr if stderr is None else stderr
    args = list(argv)
    if args and args[0] == "dtab":
        from l5d.cli.dtab_cmd import main as dtab_main

        return dtab_main(args[1:], stdin, stdout, stderr, environ, _global_reactor)
    if args and args[0] in ("-h", "--help"):
        stdout.write(USAGE)
        return 0
    if args == [WORKER_FLAG]:
        return _work(environ, stderr)
    validate = bool(args) and args[0] == "--validate"
    if validate:
        args = args[1:]
    if len(args) != 1 or (args[0].startswith("-") and args[0] != "-"):
        stderr.write(USAGE)
        return 2
    path = args[0]

    loaded = load_config(path, stdin, stderr, with_text=True)
    if loaded is None:
        return 1
    config, text = loaded
    env = env_from(environ)
    if validate:
        from twisted.internet import reactor

        try:
            build(config, env, reactor)
        except ConfigError as err:
            print(_located(err, path), file=stderr)
            return 1
        print(f"{path}: ok", file=stdout)
        return 0
    return _serve(config, env, stdout, stderr, path, text)


def _located(err: ConfigError, path: str) -> ConfigError:
    """A build error (the environment lacks what a key needs) named after the config file."""
    if err.source != "<config>":
        return err
    return ConfigError(err.message, key_path=err.key_path, line=err.line, column=err.column,
                       source="<stdin>" if path == "-" else path)


def _global_reactor() -> object:
    """The global reactor, for commands that need to run one (``l5d dtab ... --config``)."""
    from twisted.internet import reactor

    return reactor


def env_from(environ: Mapping[str, str]) -> Env:
    """The :class:`~l5d.linker.Env`: the downward-API variables (empty = unset), the whole
    environment (``envVar``, in-cluster credentials), this host's addresses and a name
    resolver (both used only by the transformers that need them)."""
    return Env(
        pod_ip=environ.get("POD_IP") or None,
        node_name=environ.get("NODE_NAME") or None,
        namespace=environ.get("POD_NAMESPACE") or None,
        variables=MappingProxyType(dict(environ)),
        local_ips=_local_ips(),
        resolve=_resolve,
        process=_process_probe(),
    )


def _process_probe() -> ProcessProbe:
    """This process's figures (``process/...``), collections timed from now on."""
    probe = ProcessProbe()
    probe.install()
    return probe


def _resolve(host: str) -> tuple[str, ...]:
    """The IP addresses of ``host`` (a blocking lookup, made once, at build time)."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return ()
    return tuple(sorted({info[4][0] for info in infos}))


def _local_ips() -> tuple[str, ...]:
    """This host's addresses: its host name's (as Linkerd's ``io.l5d.localhost`` finds them)
    and the loopback ones."""
    return tuple(sorted(set(_resolve(socket.gethostname())) | {"127.0.0.1", "::1"}))


def load_config(path: str, stdin: IO[str], stderr: IO[str], *,
                with_text: bool = False) -> Any:
    """Read and parse the config; print the problem and return None on failure.
    With ``with_text``, ``(config, its text)``."""
    source = "<stdin>" if path == "-" else path
    try:
        if path == "-":
            text = stdin.read()
        else:
            with open(path, "rb") as f:
                text = f.read().decode("utf-8-sig")
    except OSError as err:
        print(f"l5d: cannot read config {path}: {err.strerror or err}", file=stderr)
        return None
    except UnicodeDecodeError as err:
        print(f"l5d: {source}: not UTF-8 text (byte {err.start})", file=stderr)
        return None
    try:
        import importlib.metadata

        load_installed_plugins(importlib.metadata.entry_points)
        config = parse_config(text, source)
        return (config, text) if with_text else config
    except ConfigError as err:
        print(err, file=stderr)
        return None


def worker_count(config: LinkerConfig) -> int:
    """``workers``, or with ``auto`` the CPUs this process may use (its affinity mask,
    capped by a cgroup CPU quota: :func:`l5d.workers.cpus.usable_cpus`)."""
    if config.workers is not None:
        return config.workers
    from l5d.workers.cpus import usable_cpus

    def read(path: str) -> str | None:
        try:
            with open(path) as f:
                return f.read()
        except OSError:
            return None

    try:
        affinity = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = os.cpu_count() or 1
    return usable_cpus(affinity, read("/sys/fs/cgroup/cpu.max"),
                       read("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"),
                       read("/sys/fs/cgroup/cpu/cpu.cfs_period_us"))


def _serve(config: LinkerConfig, env: Env, stdout: IO[str], stderr: IO[str], path: str,
           text: str) -> int:
    """Build, start on the global reactor, run until told to stop. With more than one
    worker this process is their control (docs/workers.md)."""
    if "twisted.internet.reactor" not in sys.modules:
        from l5d.reactor import install

        install()  # epoll without a log context per event (l5d/reactor.py)
    from twisted.internet import reactor
    from twisted.internet.error import ReactorNotRunning
    from twisted.logger import (
        FilteringLogObserver,
        LogLevel,
        LogLevelFilterPredicate,
        globalLogBeginner,
    )

    from admin_ui.site import build_admin_site

    n_workers = worker_count(config)
    try:
        linker: Linker = build(config, env, reactor, control=n_workers > 1)
    except ConfigError as err:
        print(_located(err, path), file=stderr)
        return 1
    supervisor = None
    if n_workers > 1:
        from l5d.workers.supervisor import Supervisor

        supervisor = Supervisor(reactor, linker, n_workers, text,
                                "<stdin>" if path == "-" else path, env.variables)

    token = admin_token(config, env.variables, stderr)
    _log_to(stderr)
    warnings_only = LogLevelFilterPredicate(defaultLogLevel=LogLevel.warn)
    log_levels = LogLevels(warnings_only)  # /logging.json sets levels here
    globalLogBeginner.beginLoggingTo(
        [FilteringLogObserver(_twisted_to_logging, [warnings_only])],
        redirectStandardIO=False,
    )
    exit_code = 0

    def stop_reactor() -> None:
        try:
            reactor.stop()
        except ReactorNotRunning:
            pass

    holder: dict = {}
    watch = _Watch(path, reactor, lambda: do_reload("a change of the config file"))

    def do_reload(who: str) -> dict:
        """Read, parse and swap in the config file; log and return the outcome's JSON."""
        from l5d.reload.swap import Refused

        if path == "-":
            outcome: object = Refused(("the config came from stdin: there is no file to "
                                       "reload (run l5d with a file)",))
        else:
            new_text, outcome = _read_config(path)
            if new_text is not None:
                watch.seen = new_text  # a text refused once is not retried by the watch
            if isinstance(outcome, LinkerConfig) and worker_count(outcome) != n_workers:
                outcome = Refused((
                    f"workers: the number of router processes cannot change without a "
                    f"restart (running {n_workers}, the new config asks for "
                    f"{worker_count(outcome)})",))
            if isinstance(outcome, LinkerConfig):
                outcome = linker.reload(outcome)
                if supervisor is not None and not isinstance(outcome, Refused):
                    supervisor.text = new_text
                    supervisor.reload()
        doc = outcome.to_json()  # type: ignore[attr-defined]
        if isinstance(outcome, Refused):
            log.warning("reload (%s) refused, the running config stays: %s", who,
                        "; ".join(outcome.errors))
            return doc
        if doc["outcome"] == "unchanged":
            log.info("reload (%s): the config is unchanged", who)
            return doc
        site = holder["site"]
        site.resource = make_site(linker.config, site._security).resource
        for listener in outcome.listeners:  # type: ignore[attr-defined]
            print(f"l5d: {listener.name} listening on {listener.url}", file=stdout, flush=True)
        log.info("reload (%s): %s", who, "; ".join(doc["changes"]) or "rebuilt")
        watch.configure(linker.config.config_reload)
        return doc

    def make_site(cfg: LinkerConfig, security: object = None):
        return build_admin_site(cfg, reactor, stop_reactor, linker, token=token,
                                log_levels=log_levels, on_reload=do_reload, security=security)

    def sighup() -> None:
        if any(r.access_log is not None and r.access_log.roll_policy.kind is RollKind.SIGHUP
               for r in linker.config.routers):
            linker.reopen_access_logs()
            if supervisor is not None:
                supervisor.broadcast(("reopen",))
        do_reload("SIGHUP")

    def announce(listeners: list) -> None:
        for listener in listeners:
            print(f"l5d: {listener.name} listening on {listener.url}", file=stdout, flush=True)
        admin = config.admin
        log.info("admin writes are %s", "off (admin.readOnly)" if admin.read_only else (
            f"on (token from {admin.token_file or '$' + admin.token_env})" if token
            else f"off: no token (admin.tokenFile, or ${admin.token_env})"))
        log.info("l5d %s started (config %s, pid %d%s): %s%s", _version(),
                 "<stdin>" if path == "-" else os.path.abspath(path), os.getpid(),
                 "" if supervisor is None else
                 f"; {n_workers} workers, pids {' '.join(map(str, supervisor.pids))}",
                 ", ".join(f"{lst.name} on {lst.url}" for lst in listeners),
                 "".join(f"; rt/{w.label} access log {os.path.abspath(w.path)}"
                         for w in linker.access_logs))
        signal.signal(signal.SIGHUP, lambda *_: reactor.callFromThread(sighup))
        watch.configure(config.config_reload)

    def failed(failure) -> None:
        nonlocal exit_code
        exit_code = 1
        print(f"l5d: cannot start: {failure.getErrorMessage()}", file=stderr, flush=True)
        stop_reactor()

    def start() -> None:
        site = holder["site"] = make_site(config)
        started = linker.start(site)
        if supervisor is not None:
            started.addCallback(lambda listeners: supervisor.start().addCallback(
                lambda _: listeners))
        started.addCallbacks(announce, failed)

    def stop() -> object:
        if supervisor is None:
            return linker.stop()
        return supervisor.stop().addBoth(lambda _: linker.stop())

    reactor.addSystemEventTrigger("before", "shutdown", watch.stop)
    reactor.addSystemEventTrigger("before", "shutdown", stop)
    reactor.callWhenRunning(start)
    reactor.run()
    return exit_code


def _work(environ: Mapping[str, str], stderr: IO[str]) -> int:
    """``l5d --worker``: one worker process of a control (:mod:`l5d.workers.worker`)."""
    if "twisted.internet.reactor" not in sys.modules:
        from l5d.reactor import install

        install()
    from twisted.internet import reactor
    from twisted.internet.error import ReactorNotRunning
    from twisted.logger import (
        FilteringLogObserver,
        LogLevel,
        LogLevelFilterPredicate,
        globalLogBeginner,
    )

    from l5d.workers.worker import Worker

    _die_with_parent()
    env = env_from(environ)
    _log_to(stderr, tag="worker")
    globalLogBeginner.beginLoggingTo(
        [FilteringLogObserver(_twisted_to_logging,
                              [LogLevelFilterPredicate(defaultLogLevel=LogLevel.warn)])],
        redirectStandardIO=False)

    def stop_reactor() -> None:
        try:
            reactor.stop()
        except ReactorNotRunning:
            pass

    def parse(text: str, source: str) -> LinkerConfig:
        # the control parsed this text with the installed plugins: a worker loads them
        # (importlib.metadata, about 1.7 MiB) only when the config names a kind that is not
        # built in, so the same text gives the same config
        try:
            return parse_config(text, source)
        except ConfigError:
            import importlib.metadata

            load_installed_plugins(importlib.metadata.entry_points)
            return parse_config(text, source)

    def make(text: str, source: str, side: object) -> Linker:
        return build(parse(text, source), env, reactor, worker=side)

    worker = Worker(reactor, make, parse, stop_reactor)
    reactor.addSystemEventTrigger(
        "before", "shutdown", lambda: worker.linker.stop() if worker.linker else None)
    reactor.callWhenRunning(worker.run)
    # SIGTERM or SIGINT (the control's process group signalled, as a terminal's Ctrl-C
    # does) drain once, like the control's ("stop",)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: reactor.callFromThread(worker.stop))
    reactor.run(installSignalHandlers=False)
    return 0


def _die_with_parent() -> None:
    """SIGTERM this process when its parent (the control) dies, however it dies."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _read_config(path: str) -> tuple[str | None, object]:
    """``(text, LinkerConfig)`` of the file, or ``(text or None, Refused)`` naming every
    error."""
    from l5d.reload.swap import Refused

    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8-sig")
    except OSError as err:
        return None, Refused((f"cannot read config {path}: {err.strerror or err}",))
    except UnicodeDecodeError as err:
        return None, Refused((f"{path}: not UTF-8 text (byte {err.start})",))
    try:
        return text, parse_config(text, path)
    except ConfigError as err:
        several = getattr(err, "errors", None)
        return text, Refused(tuple(str(e) for e in several) if several else (str(err),))


class _Watch:
    """``configReload.watch``: read the config file every ``intervalMs``; when its text is
    not the one last loaded (a ConfigMap's symlink swap included), reload."""

    def __init__(self, path: str, reactor: object, on_change) -> None:
        self._path = path
        self._reactor = reactor
        self._on_change = on_change
        self._loop = None
        self._interval = None
        self.seen: str | None = None
        if path != "-":
            try:
                with open(path, "rb") as f:
                    self.seen = f.read().decode("utf-8-sig")
            except (OSError, UnicodeDecodeError):
                pass

    def configure(self, cfg) -> None:
        from twisted.internet.task import LoopingCall

        interval = cfg.interval_s if cfg.watch and self._path != "-" else None
        if interval == self._interval:
            return
        self.stop()
        self._interval = interval
        if interval is not None:
            log.info("configReload: watching %s every %d ms", os.path.abspath(self._path),
                     round(interval * 1000))
            self._loop = LoopingCall(self._check)
            self._loop.clock = self._reactor
            self._loop.start(interval, now=False)

    def stop(self) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None
        self._interval = None

    def _check(self) -> None:
        try:
            with open(self._path, "rb") as f:
                text = f.read().decode("utf-8-sig")
        except (OSError, UnicodeDecodeError):
            return  # mid-swap or gone for now: the next read decides
        if text != self.seen:
            self.seen = text
            self._on_change()


def admin_token(config: LinkerConfig, environ: Mapping[str, str],
                stderr: IO[str]) -> str | None:
    """The admin's bearer token: ``admin.tokenFile``'s content (whitespace around it
    dropped), else the variable ``admin.tokenEnv``; ``None`` when neither gives one, and
    admin writes are off. A token file that cannot be read leaves them off too (said on
    stderr): failing closed, l5d still routes."""
    admin = config.admin
    if admin.token_file is None:
        return environ.get(admin.token_env, "").strip() or None
    try:
        with open(admin.token_file, "rb") as f:
            text = f.read(4096).decode("utf-8").strip()
        mode = os.stat(admin.token_file).st_mode
    except (OSError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or err
        print(f"l5d: warning: cannot read admin.tokenFile {admin.token_file} ({reason}): "
              f"admin writes are off", file=stderr, flush=True)
        return None
    if mode & 0o077:
        print(f"l5d: warning: admin.tokenFile {admin.token_file} can be read by other users "
              f"(mode {mode & 0o777:o}; chmod 600 it)", file=stderr, flush=True)
    return text or None


def _version() -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version("l5d")
    except importlib.metadata.PackageNotFoundError:
        return "(not installed)"


def _log_to(stream: IO[str], tag: str = "") -> None:
    """Python ``logging`` at INFO to ``stream``, one line per record, UTC times; a
    worker's lines name it (``l5d.router[worker 1234]``)."""
    handler = logging.StreamHandler(stream)
    fmt = LOG_FORMAT if not tag else LOG_FORMAT.replace(
        "%(name)s", f"%(name)s[{tag} %(process)d]")
    formatter = logging.Formatter(fmt, LOG_DATE_FORMAT)
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def _twisted_to_logging(event: dict) -> None:
    """A Twisted log event as a Python ``logging`` record of the logger named after its
    namespace (``l5d.k8s.apis``, say), its failure's traceback included."""
    from twisted.logger import LogLevel, formatEvent

    levels = {LogLevel.debug: logging.DEBUG, LogLevel.info: logging.INFO,
              LogLevel.warn: logging.WARNING, LogLevel.error: logging.ERROR,
              LogLevel.critical: logging.CRITICAL}
    failure = event.get("log_failure")
    exc_info = None if failure is None else (
        failure.type, failure.value, failure.getTracebackObject())
    logging.getLogger(event.get("log_namespace") or "twisted").log(
        levels.get(event.get("log_level"), logging.INFO), "%s", formatEvent(event),
        exc_info=exc_info)
