"""YAML reading with line numbers, YAML 1.2 scalars and no silent surprises.

PyYAML speaks YAML 1.1, where ``after: 9:05`` is the integer 545 (base 60), ``dates: [2025-12-25]``
is a ``date`` object and ``on``/``no`` are booleans. The reference reads its files with Go's
yaml.v3 (YAML 1.2 core schema), where all of those are strings. This loader resolves scalars the
1.2 way, rejects duplicate keys and multi-document files, and records the line of every key so
errors can say ``pipelines/orders.yaml:12: trigger.airflow.dag_id: ...``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

Path = tuple[str | int, ...]

# Nodes one file may expand to: aliases make a small file able to describe a huge tree.
MAX_NODES = 200_000

_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_INT = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_FLOAT = re.compile(
    r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
_TAG = "tag:yaml.org,2002:"


_TOO_DEEP = "YAML nesting is too deep"
# PyYAML quotes what it found ("found undefined alias 'x'"); a file that does not parse may be no
# config at all (a data file, a key), so such quotes are cut unless they are one character ('\t')
# or the name of a token ('<stream end>').
_QUOTED = re.compile(r"\s*'((?:[^'\\]|\\.)*)'")
_UNCLOSED = {"flow sequence": "'['", "flow mapping": "'{'", "quoted scalar": "a quote"}


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core-schema implicit resolvers."""


_Loader.yaml_implicit_resolvers = {}
_Loader.add_implicit_resolver(_TAG + "bool", _BOOL, list("tTfF"))
_Loader.add_implicit_resolver(_TAG + "null", _NULL, ["~", "n", "N", ""])
_Loader.add_implicit_resolver(_TAG + "int", _INT, list("-+0123456789"))
_Loader.add_implicit_resolver(_TAG + "float", _FLOAT, list("-+0123456789."))
_Loader.add_implicit_resolver(_TAG + "merge", re.compile(r"^(?:<<)$"), ["<"])


# libyaml's parser and composer (about 15x faster than the pure-Python ones: opening a large project
# is mostly parsing) with the same resolvers. It caps nesting at 1 000 levels itself. The two read a
# few texts differently (libyaml accepts tabs PyYAML refuses, reads a lone "!" tag, stray byte-order
# marks and a comment right after a block scalar's "|" its own way): a text with any of those, one
# libyaml refuses and one that is not exactly one document go to ``_Loader``, so every file reads
# and every error says the same whichever parser met it (tests/fuzz: the two are compared).
_FastLoader: type | None = None
if getattr(yaml, "__with_libyaml__", False):
    class _CLoader(yaml.CSafeLoader):
        """CSafeLoader with ``_Loader``'s YAML 1.2 core-schema implicit resolvers."""

    _CLoader.yaml_implicit_resolvers = _Loader.yaml_implicit_resolvers
    _FastLoader = _CLoader
_PYYAML_ONLY = re.compile(r"[\t!\ufeff]|[|>][-+0-9]*#")


class YamlError(Exception):
    """A file that is not the YAML we accept; ``line`` is 1-based when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass
class Document:
    """A parsed YAML document and the line each key path starts on."""

    data: Any
    lines: dict[Path, int] = field(default_factory=dict)

    def line_of(self, path: Path) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None


def parse(text: str) -> Document:
    """Parse one YAML document; raise YamlError on bad syntax, duplicate keys or unknown tags."""
    nodes = _compose_fast(text)
    if nodes is None:
        nodes = _compose(text)
    if len(nodes) > 1:
        second = nodes[1]
        raise YamlError(
            "the file holds more than one YAML document ('---'); put one object in each file",
            second.start_mark.line + 1 if second is not None else None,
        )
    doc = Document(data=None)
    if not nodes or nodes[0] is None:
        return doc
    builder = _Builder(doc)
    try:
        doc.data = builder.build(nodes[0], ())
    except RecursionError:
        raise YamlError(_TOO_DEEP) from None
    return doc


def _compose_fast(text: str) -> list[Node] | None:
    """The one document's nodes as libyaml composes them, or None: for ``_compose`` to read (see ``_PYYAML_ONLY``)."""
    if _FastLoader is None or _PYYAML_ONLY.search(text):
        return None
    try:
        nodes = list(yaml.compose_all(text, Loader=_FastLoader))
    except Exception:  # _compose parses it again and says what is wrong
        return None
    # A lone scalar (``---`` alone is an empty one) is no config anyway; PyYAML places it to the line.
    return nodes if len(nodes) == 1 and isinstance(nodes[0], (MappingNode, SequenceNode)) else None


def _compose(text: str) -> list[Node]:
    """The document's nodes as PyYAML's own parser composes them; YamlError saying what is wrong."""
    try:
        return list(yaml.compose_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = _unquoted(exc.problem or "the file is not valid YAML")
        context = f" {_unquoted(exc.context)}" if exc.context else ""
        opened = exc.context or ""
        what = next((w for k, w in _UNCLOSED.items() if k in opened), None)
        if exc.context_mark is not None and (what or "<stream end>" in problem):
            # Point at the bracket or quote that was never closed, not where the parser gave up.
            mark = exc.context_mark
            problem, context = f"{what or 'a block'} opened here is never closed ({problem})", ""
        raise YamlError(f"invalid YAML: {problem}{context}", mark.line + 1 if mark else None) from None
    except yaml.YAMLError:
        raise YamlError("invalid YAML") from None
    except RecursionError:  # PyYAML's parser recurses once per nesting level ("[[[[...")
        raise YamlError(_TOO_DEEP) from None


class _Builder:
    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.count = 0

    def build(self, node: Node, path: Path) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise YamlError(f"the file expands to more than {MAX_NODES} values (anchors/aliases?)")
        self.doc.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, ScalarNode):
            return _scalar(node)
        if isinstance(node, SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        if isinstance(node, MappingNode):
            return self._mapping(node, path)
        raise YamlError("unsupported YAML node", node.start_mark.line + 1)

    def _mapping(self, node: MappingNode, path: Path) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        merged: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _TAG + "merge":
                for source in self._merge_sources(value_node, path):
                    for k, v in source.items():
                        merged.setdefault(k, v)
                continue
            if not isinstance(key_node, ScalarNode):
                raise YamlError("mapping keys must be plain scalars", key_node.start_mark.line + 1)
            key = _scalar(key_node)
            if key is None or isinstance(key, (int, float, bool)):
                key = key_node.value
            if key in result:
                first = self.doc.lines.get((*path, key))
                where = f" (first at line {first})" if first else ""
                raise YamlError(f"duplicate key {key!r}{where}", key_node.start_mark.line + 1)
            self.doc.lines[(*path, key)] = key_node.start_mark.line + 1
            result[key] = self.build(value_node, (*path, key))
        for k, v in merged.items():
            result.setdefault(k, v)
        return result

    def _merge_sources(self, node: Node, path: Path) -> list[dict[Any, Any]]:
        items = node.value if isinstance(node, SequenceNode) else [node]
        sources = []
        for item in items:
            if not isinstance(item, MappingNode):
                raise YamlError("'<<' must merge a mapping or a list of mappings", item.start_mark.line + 1)
            sources.append(self._mapping(item, path))
        return sources


def _scalar(node: ScalarNode) -> Any:
    tag, value = node.tag, node.value
    if tag == _TAG + "str":
        return value
    if tag == _TAG + "null":
        return None
    if tag == _TAG + "bool":
        if value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise YamlError(f"{value!r} is not a boolean", node.start_mark.line + 1)
    if tag == _TAG + "int":
        try:
            if value.startswith("0x"):
                return int(value[2:], 16)
            if value.startswith("0o"):
                return int(value[2:], 8)
            return int(value, 10)
        except ValueError:
            raise YamlError(f"{value!r} is not an integer", node.start_mark.line + 1) from None
    if tag == _TAG + "float":
        try:
            return float(value.replace(".inf", "inf").replace(".Inf", "inf").replace(".INF", "inf")
                         .replace(".nan", "nan").replace(".NaN", "nan").replace(".NAN", "nan"))
        except ValueError:
            raise YamlError(f"{value!r} is not a number", node.start_mark.line + 1) from None
    # The tag is not quoted: in a file that is no config at all it would be its content.
    raise YamlError("unsupported YAML tag ('!...'); write plain values", node.start_mark.line + 1)


def _unquoted(text: str) -> str:
    """PyYAML's message without the text it quotes from the file, single characters apart."""
    def keep(match: re.Match[str]) -> str:
        quoted = match.group(1)
        return match.group(0) if len(quoted) <= 2 or re.fullmatch(r"<[a-z ]+>", quoted) else ""

    return _QUOTED.sub(keep, text)


def dump(data: Any) -> str:
    """Write ``data`` as block-style YAML with keys in the order given."""
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True)
