"""``parse_config(text)``: linkerd.yaml (YAML or JSON) → frozen :class:`LinkerConfig` (pure).

The only module that imports ``yaml``. The text is composed with PyYAML's
safe loader into a node graph, so every value keeps its line and column, and
converted to plain located values (:class:`~l5d.config._node.Node`): scalars
are built by the safe constructor, mappings and sequences by hand, which is
where duplicate keys, non-string keys, merge keys (``<<``) and recursive
aliases are rejected. The readers in :mod:`l5d.config._read` then turn that
into the model, and :func:`~l5d.config.checks.check_config` runs the
whole-config rules with the recorded positions.

JSON is YAML, with one wrinkle handled here: JSON allows tabs as whitespace
and YAML does not indent with them, so valid JSON has its tabs replaced by
spaces first (a valid JSON document cannot contain a raw tab inside a
string, so no value changes and columns stay put).
"""

from __future__ import annotations

import json

import yaml

from l5d.config._fields import Context, join
from l5d.config._node import Node, describe
from l5d.config._read import read_linker
from l5d.config.checks import check_config
from l5d.config.errors import ConfigError, collected
from l5d.config.model import LinkerConfig
from l5d.config.plugins import DEFAULT_PLUGINS, Plugins

__all__ = ["compose", "parse_config"]

_MERGE_TAG = "tag:yaml.org,2002:merge"


def parse_config(
    text: str, source: str = "<config>", *, plugins: Plugins = DEFAULT_PLUGINS
) -> LinkerConfig:
    """Parse a Linkerd 1.x config.

    :param text: the YAML or JSON text.
    :param source: the name errors start with (a file name, ``<stdin>``).
    :param plugins: the plugin registries to resolve ``kind`` with.
    :raises ConfigError: every problem in the file, each with its line and key path
        (:class:`~l5d.config.errors.ConfigErrors` when there are several; the
        whole-config cross-checks run only on a config that reads cleanly).
    """
    ctx = Context(source, lines=tuple(text.splitlines()))
    try:
        config = read_linker(compose(text, source), ctx, plugins)
    except ConfigError as err:
        ctx.report(err)
    if ctx.errors:
        raise collected(ctx.errors)
    check_config(config, source=source, locate=ctx.locate)
    return config


def compose(text: str, source: str = "<config>") -> Node:
    """The document as a located :class:`Node` tree (``null`` for an empty document).

    :raises ConfigError: a YAML syntax error (at the YAML error's line), a
        duplicate key, a non-string key, a merge key, or a recursive alias.
    """
    text = _untab_json(text)
    loader = None
    try:
        loader = yaml.SafeLoader(text)
        root = loader.get_single_node()
        if root is None:
            return Node(None, 1, 1)
        return _Converter(loader, text, source).convert(root, "")
    except yaml.MarkedYAMLError as err:
        raise _yaml_error(err, source) from None
    except yaml.reader.ReaderError as err:
        line = text.count("\n", 0, err.position) + 1
        raise ConfigError(f"invalid YAML: {_reader_reason(err)}", line=line,
                          source=source) from None
    except yaml.YAMLError as err:  # pragma: no cover - every PyYAML error above has a mark
        raise ConfigError(f"invalid YAML: {err}", source=source) from None
    finally:
        if loader is not None:
            loader.dispose()


def _untab_json(text: str) -> str:
    if "\t" not in text or not text.lstrip().startswith(("{", "[")):
        return text
    try:
        json.loads(text)
    except ValueError:
        return text
    return text.replace("\t", " ")


def _yaml_error(err: yaml.MarkedYAMLError, source: str) -> ConfigError:
    mark = err.problem_mark or err.context_mark
    message = err.problem or err.context or "syntax error"
    if err.problem and err.context:
        message = f"{err.problem} ({err.context})"
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
    return ConfigError(f"invalid YAML: {message}", line=line, column=column, source=source)


def _reader_reason(err: yaml.reader.ReaderError) -> str:
    char = err.character
    code = ord(char) if isinstance(char, str) else char
    if isinstance(code, int):
        return f"{err.reason} (#x{code:04x})"
    return str(err.reason)


class _Converter:
    """YAML nodes → :class:`Node`, memoised so shared (aliased) nodes convert once."""

    def __init__(self, loader: yaml.SafeLoader, text: str, source: str) -> None:
        self._loader = loader
        self._lines = text.splitlines()
        self._source = source
        self._done: dict[int, Node] = {}
        self._active: set[int] = set()

    def _error(self, message: str, key_path: str, ynode: yaml.Node) -> ConfigError:
        mark = ynode.start_mark
        return ConfigError(message, key_path=key_path, line=mark.line + 1,
                           column=mark.column + 1, source=self._source)

    def convert(self, ynode: yaml.Node, path: str) -> Node:
        key = id(ynode)
        if key in self._done:
            return self._done[key]
        if key in self._active:
            raise self._error("recursive YAML alias", path, ynode)
        self._active.add(key)
        try:
            node = self._convert(ynode, path)
        finally:
            self._active.discard(key)
        self._done[key] = node
        return node

    def _convert(self, ynode: yaml.Node, path: str) -> Node:
        line, column = ynode.start_mark.line + 1, ynode.start_mark.column + 1
        if isinstance(ynode, yaml.MappingNode):
            return Node(self._pairs(ynode, path), line, column, is_mapping=True)
        if isinstance(ynode, yaml.SequenceNode):
            items = tuple(self.convert(item, f"{path}[{i}]") for i, item in enumerate(ynode.value))
            return Node(items, line, column)
        value = self._loader.construct_object(ynode, deep=True)
        style = ynode.style if ynode.style in ("|", ">", "'", '"') else None
        indent = self._block_indent(ynode.start_mark.line) if style in ("|", ">") else 0
        return Node(value, line, column, style=style, indent=indent)

    def _pairs(self, ynode: yaml.MappingNode, path: str) -> tuple[tuple[Node, Node], ...]:
        seen: dict[str, int] = {}
        pairs = []
        for knode, vnode in ynode.value:
            if knode.tag == _MERGE_TAG:
                raise self._error("YAML merge keys (<<) are not supported", path, knode)
            key = self.convert(knode, path)
            if not isinstance(key.value, str) or key.is_mapping:
                raise self._error(f"expected a string key, got {describe(key)}", path, knode)
            if key.value in seen:
                raise self._error(
                    f'duplicate key "{key.value}" (first on line {seen[key.value]})',
                    join(path, key.value), knode,
                )
            seen[key.value] = key.line
            pairs.append((key, self.convert(vnode, join(path, key.value))))
        return tuple(pairs)

    def _block_indent(self, indicator_line: int) -> int:
        """0-based column of a block scalar's content: the first non-blank line after
        the ``|``/``>`` indicator."""
        for text in self._lines[indicator_line + 1:]:
            if text.strip():
                return len(text) - len(text.lstrip(" "))
        return 0
