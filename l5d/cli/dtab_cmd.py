"""``l5d dtab``: show, delegate and bind dtabs from the command line (no sockets).

::

    l5d dtab show FILE|-                       canonical form, one dentry per line
    l5d dtab delegate --dtab TEXT [--json] PATH  the delegation trace
    l5d dtab bind --dtab TEXT PATH             the bound tree and addresses as JSON
    l5d dtab delegate|bind --config FILE [--router LABEL] [--dtab TEXT] PATH

Without ``--config`` only Finagle's built-in ``/$/`` namers are available. With it,
the path resolves as in the router: its dtab (``--dtab`` is appended as an override),
the configured namers (``/#/io.l5d.k8s/...`` watches the API for up to
``--timeout`` seconds) and the router's transformers. Exit codes: 0 done; 1 the
name could not be bound (namer failure, delegation loop, still pending at the
timeout); 2 bad input (a dtab, path or config that does not parse, a missing file).
"""

from __future__ import annotations

import argparse
import json
from typing import IO, Any, Callable, Mapping, Sequence

from dtab import (
    Dtab, DtabParseError, Failed, Interpreter, Ok, Path, bind_report, delegate_tree_json,
    render_delegate_tree,
)

EXIT_OK = 0
EXIT_UNBOUND = 1
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse that writes to the given streams and never exits the process."""

    def __init__(self, *args, stdout: IO[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._stdout = stdout

    def error(self, message: str):  # type: ignore[override]
        raise _UsageError(f"{self.prog}: {message}")

    def print_help(self, file=None) -> None:
        self._stdout.write(self.format_help())

    def exit(self, status: int = 0, message: str | None = None):  # type: ignore[override]
        raise SystemExit(status)


class _UsageError(Exception):
    pass


def _parser(stdout: IO[str], stderr: IO[str]) -> _Parser:
    p = _Parser(prog="l5d dtab", description="Inspect dtabs with Finagle's semantics.", stdout=stdout)
    sub = p.add_subparsers(dest="command", required=True, parser_class=lambda **kw: _Parser(stdout=stdout, **kw))
    show = sub.add_parser("show", help="print a dtab in canonical form, one dentry per line")
    show.add_argument("file", metavar="FILE|-")
    dele = sub.add_parser("delegate", help="trace how a path delegates")
    dele.add_argument("--json", action="store_true", help="print Linkerd's delegator.json shape")
    bind = sub.add_parser("bind", help="bind a path and print the result as JSON")
    for cmd in (dele, bind):
        cmd.add_argument("--dtab", help="dtab text, e.g. '/svc=>/$/inet/127.1/8080' (with "
                         "--config: appended to the router's dtab)")
        cmd.add_argument("--config", metavar="FILE", help="resolve as a router of this "
                         "linkerd.yaml does, with its namers and transformers")
        cmd.add_argument("--router", metavar="LABEL", help="the router (default: the first)")
        cmd.add_argument("--timeout", type=float, default=10.0,
                         help="seconds to wait for namers (with --config; default 10)")
        cmd.add_argument("path")
    return p


def _parse_error(source: str, err: DtabParseError) -> str:
    return f"{source}:{err.line}:{err.column}: {err.line_message()}"


def main(argv: Sequence[str], stdin: IO[str], stdout: IO[str], stderr: IO[str],
         environ: Mapping[str, str] | None = None,
         get_reactor: Callable[[], Any] | None = None) -> int:
    """Run ``l5d dtab`` with ``argv`` (the words after ``dtab``); returns the exit code.

    :param environ: the process environment (for ``--config``: what namers and
        transformers read, e.g. ``POD_IP``).
    :param get_reactor: gives the reactor ``--config`` runs namers on (the entry point's).
    """
    try:
        args = _parser(stdout, stderr).parse_args(list(argv))
    except _UsageError as e:
        stderr.write(f"{e}\n")
        return EXIT_USAGE
    except SystemExit as e:  # --help
        return int(e.code or 0)

    if args.command == "show":
        return _show(args.file, stdin, stdout, stderr)
    if args.config is None and args.dtab is None:
        stderr.write(f"l5d dtab {args.command}: one of --dtab or --config is required\n")
        return EXIT_USAGE
    if args.config is None and args.router is not None:
        stderr.write(f"l5d dtab {args.command}: --router needs --config\n")
        return EXIT_USAGE

    try:
        dtab = Dtab.read(args.dtab or "")
    except DtabParseError as e:
        stderr.write(_parse_error("--dtab", e) + "\n")
        return EXIT_USAGE
    try:
        path = Path.read(args.path)
    except DtabParseError as e:
        stderr.write(_parse_error("PATH", e) + "\n")
        return EXIT_USAGE

    if args.config is not None:
        from l5d.cli.configured import resolve

        if get_reactor is None:
            stderr.write("l5d dtab: --config needs a reactor\n")
            return EXIT_USAGE
        outcome = resolve(args.config, args.router, dtab, path, args.command, args.timeout,
                          environ or {}, stderr, get_reactor())
        if outcome is None:
            return EXIT_USAGE
        state = outcome
    else:
        interpreter = Interpreter()
        state = (interpreter.delegate if args.command == "delegate" else interpreter.bind)(
            dtab, path)
    if args.command == "delegate":
        if not isinstance(state, Ok):
            return _unbound(state, path, stderr)
        if args.json:
            stdout.write(json.dumps(delegate_tree_json(state.value)) + "\n")
        else:
            stdout.write(render_delegate_tree(state.value))
        return EXIT_OK

    if not isinstance(state, Ok):
        return _unbound(state, path, stderr)
    stdout.write(json.dumps(bind_report(state.value)) + "\n")
    return EXIT_OK


def _unbound(state, path: Path, stderr: IO[str]) -> int:
    if isinstance(state, Failed):
        stderr.write(f"l5d dtab: cannot bind {path.show()}: {state.error}\n")
    else:  # a configured namer that did not answer in time
        stderr.write(f"l5d dtab: {path.show()} is still pending (its namers did not answer "
                     "in time)\n")
    return EXIT_UNBOUND


def _show(name: str, stdin: IO[str], stdout: IO[str], stderr: IO[str]) -> int:
    source = "<stdin>" if name == "-" else name
    try:
        if name == "-":
            text = stdin.read()
        else:
            with open(name, encoding="utf-8") as f:
                text = f.read()
    except OSError as e:
        stderr.write(f"l5d dtab: cannot read {source}: {e.strerror or e}\n")
        return EXIT_USAGE
    except UnicodeDecodeError as e:
        stderr.write(f"l5d dtab: {source}: not UTF-8 text ({e.reason} at byte {e.start})\n")
        return EXIT_USAGE
    try:
        dtab = Dtab.read(text)
    except DtabParseError as e:
        stderr.write(_parse_error(source, e) + "\n")
        return EXIT_USAGE
    stdout.write(dtab.show_lines())
    return EXIT_OK
