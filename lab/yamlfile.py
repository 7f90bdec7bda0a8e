"""Reading YAML that may be hostile: topology files, lab files and answer files come from anywhere.

PyYAML's safe loader is safe against code execution, not against size: an alias to a collection is
expanded wherever it is used (ten nested aliases of ten make 10^10 nodes from one kilobyte: a "YAML
bomb"), and its composer and constructor recurse once per nesting level (a thousand ``[`` give a
RecursionError). So a file is checked on its *event stream* first -- the parser is a state machine that
does not recurse and builds nothing -- and only a file that passes is composed into Python objects:

* at most ``MAX_FILE_BYTES`` bytes, UTF-8, a regular file (a FIFO or a device would block or never end);
* nesting at most ``MAX_DEPTH`` levels, counted through aliases (an alias inserts its anchor's depth);
* at most ``MAX_NODES`` nodes *after* alias expansion (an alias counts as the size of what it names).

Booleans are YAML 1.2's: only ``true``/``false`` (any case-spelling YAML allows). YAML 1.1's ``yes``,
``no``, ``on``, ``off`` stay strings, so a node called ``no`` is a node called "no", and
``loopback: yes`` is refused by the key's own check ("must be true or false") instead of silently meaning
something.

Every problem is one ``YamlFileError`` whose message is ``FILE:LINE: problem`` (``lab.errors.where_text``).

Parsed mappings and lists remember the lines they and their items were written on (``Mapping``,
``Sequence``), so that a check of the parsed data can still name the line: ``line_of`` for one value,
``line_at`` for a path into the document.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any

import yaml

from lab.errors import one_line, where_text

MAX_FILE_BYTES = 4 << 20
MAX_DEPTH = 64
MAX_NODES = 200_000

try:  # the C parser is ~10x faster; the checks and the result are the same
    _Base: type = yaml.CSafeLoader  # type: ignore[attr-defined]
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _Base = yaml.SafeLoader

_BOOL = "tag:yaml.org,2002:bool"


class _Loader(_Base):  # type: ignore[misc,valid-type]
    """The safe loader with YAML 1.2 booleans (see the module docstring)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != _BOOL]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(_BOOL, re.compile(r"(?:true|True|TRUE|false|False|FALSE)\Z"), list("tTfF"))


class Mapping(dict):
    """A YAML mapping that remembers where it was written: ``line`` and ``key_lines[key]`` (1-based), so
    that a check of the parsed data can still say "line N"."""

    line: int | None = None
    key_lines: dict[Any, int]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.key_lines = {}


class Sequence(list):
    """A YAML sequence that remembers where it was written: ``line`` and ``item_lines[i]`` (1-based lines,
    0-based positions), so that a scalar item (``- h1``, ``- [h1, s1]``) still has a line."""

    line: int | None = None
    item_lines: list[int]

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.item_lines = []


def line_of(value: Any, key: Any = None) -> int | None:
    """The line where ``value`` (a parsed mapping or list) or its ``key`` (a key, or a 0-based position)
    was written, if known; the value's own line when the key's is not."""
    if key is not None:
        own = _own_line(value, key)
        if own is not None:
            return own
    return value.line if isinstance(value, Mapping | Sequence) else None


def line_at(root: Any, *path: Any) -> int | None:
    """The line of the deepest value along ``path`` (keys and 0-based positions) that the document has:
    ``line_at(doc, "nodes", 2, "kind")`` is the line of the third node's ``kind``, or of the third node if
    it has no ``kind``, or of ``nodes``."""
    line = line_of(root)
    value = root
    for key in path:
        own = _own_line(value, key)
        if own is None:
            break
        line, value = own, value[key]
    return line


def key_lines(root: Any) -> dict[str, int]:
    """Every value's line by its dotted key: ``{"steps": 5, "steps.2": 9, "steps.2.node": 10, ...}``, list
    items counted from 1 (as messages count them). Walked with a stack, not recursion."""
    out: dict[str, int] = {}
    stack: list[tuple[str, Any]] = [("", root)]
    while stack:
        prefix, value = stack.pop()
        if isinstance(value, Mapping):
            items = [(str(k), v, value.key_lines.get(k)) for k, v in value.items()]
        elif isinstance(value, Sequence):
            items = [(str(i), v, line)
                     for i, (v, line) in enumerate(zip(value, value.item_lines, strict=False), 1)]
        else:
            continue
        for name, child, line in items:
            key = f"{prefix}.{name}" if prefix else name
            if line is not None:
                out[key] = line
            stack.append((key, child))
    return out


def line_for(lines: dict[str, int], key: str | None, default: int | None = None) -> int | None:
    """The line of ``key`` in ``lines`` (``key_lines``), or of the nearest enclosing key that has one
    (``steps.2`` for ``steps.2.timeout`` when the step gives no timeout), else ``default``."""
    while key:
        if key in lines:
            return lines[key]
        key = key.rpartition(".")[0]
    return default


def _own_line(value: Any, key: Any) -> int | None:
    if isinstance(value, Mapping):
        return value.key_lines.get(key)
    if isinstance(value, Sequence) and isinstance(key, int) and not isinstance(key, bool) \
            and 0 <= key < len(value.item_lines):
        return value.item_lines[key]
    return None


def _construct_mapping(loader: Any, node: yaml.MappingNode) -> Any:
    data = Mapping()
    data.line = node.start_mark.line + 1
    yield data
    data.update(loader.construct_mapping(node))
    data.key_lines = {k.value: k.start_mark.line + 1 for k, _v in node.value
                      if isinstance(k, yaml.ScalarNode)}


def _construct_sequence(loader: Any, node: yaml.SequenceNode) -> Any:
    data = Sequence()
    data.line = node.start_mark.line + 1
    yield data
    data.extend(loader.construct_sequence(node))
    data.item_lines = [item.start_mark.line + 1 for item in node.value]


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
_Loader.add_constructor("tag:yaml.org,2002:seq", _construct_sequence)


class YamlFileError(ValueError):
    """A YAML file that is refused: ``str()`` is the one-line message, ``line`` the 1-based line or None."""

    def __init__(self, source: str, problem: str, line: int | None = None) -> None:
        self.source, self.problem, self.line = source, problem, line
        super().__init__(one_line(f"{where_text(source, line)}: {problem}"))


def read_yaml_file(path: Path | str, source: str | None = None) -> Any:
    """Read and parse one YAML file under the limits of the module docstring.

    Raises:
        YamlFileError: unreadable, not a regular file, too large, not UTF-8, invalid YAML, or hostile.
    """
    source = source or str(path)
    return parse_yaml(read_text_file(path, source), source)


def read_text_file(path: Path | str, source: str | None = None, limit: int = MAX_FILE_BYTES) -> str:
    """The text of a regular UTF-8 file of at most ``limit`` bytes (a FIFO would block, /dev/zero never
    end, a directory is not a file: each gets its own one-line refusal)."""
    path = Path(path)
    source = source or str(path)
    try:
        st = os.stat(path)
    except OSError as err:
        raise YamlFileError(source, f"cannot read: {err.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise YamlFileError(source, f"not a regular file ({_file_kind(st.st_mode)})")
    if st.st_size > limit:
        raise YamlFileError(source, f"{st.st_size} bytes, more than the limit of {limit}")
    try:
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)
    except OSError as err:
        raise YamlFileError(source, f"cannot read: {err.strerror}") from None
    if len(data) > limit:
        raise YamlFileError(source, f"more than the limit of {limit} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[:err.start].count(b"\n") + 1
        raise YamlFileError(source, f"not UTF-8 text (byte 0x{data[err.start]:02x})", line) from None


def parse_yaml(text: str, source: str = "<yaml>") -> Any:
    """Parse YAML text under the limits of the module docstring (the size limit included)."""
    if len(text) > MAX_FILE_BYTES:
        raise YamlFileError(source, f"more than the limit of {MAX_FILE_BYTES} characters")
    if "\0" in text:
        line = text[:text.index("\0")].count("\n") + 1
        raise YamlFileError(source, "a NUL character (not a text file)", line)
    try:
        _check_events(text, source)
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a safe loader (the subclass above)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        context = getattr(err, "context", None)
        started = getattr(err, "context_mark", None)
        if context and started is not None and mark is not None and started.line != mark.line:
            context += f" (started on line {started.line + 1})"  # where the unclosed thing was opened
        text_ = f"invalid YAML: {context + ': ' if context else ''}{problem}"
        raise YamlFileError(source, " ".join(text_.split()), mark.line + 1 if mark else None) from None
    except RecursionError:  # cannot happen within MAX_DEPTH; kept so that no traceback escapes
        raise YamlFileError(source, f"nested too deeply (limit {MAX_DEPTH})") from None


def _check_events(text: str, source: str) -> None:
    """Walk the event stream: depth and expanded size, counted through aliases, before anything is built.

    Each open collection is a frame ``[nodes so far, deepest level below it, anchor]``; when it closes its
    totals are added to its parent and, if it has an anchor, remembered, so that an alias adds what its
    anchor stands for.
    """
    anchors: dict[str, tuple[int, int]] = {}  # anchor -> (nodes, height)
    stack: list[list[Any]] = [[0, 0, None]]  # the document level
    for event in yaml.parse(text, Loader=_Loader):
        line = event.start_mark.line + 1 if event.start_mark else None
        if isinstance(event, yaml.CollectionStartEvent):
            if len(stack) > MAX_DEPTH:
                raise YamlFileError(source, f"nested more than {MAX_DEPTH} levels deep", line)
            stack.append([1, 1, event.anchor])
            continue
        if isinstance(event, yaml.CollectionEndEvent):
            nodes, height, anchor = stack.pop()
            if anchor is not None:
                anchors[anchor] = (nodes, height)
            added, added_height = nodes, height
        elif isinstance(event, yaml.ScalarEvent):
            added, added_height = 1, 0
            if event.anchor is not None:
                anchors[event.anchor] = (1, 0)
        elif isinstance(event, yaml.AliasEvent):
            if event.anchor not in anchors:  # let the composer say it ("found undefined alias")
                continue
            added, added_height = anchors[event.anchor]
            if len(stack) - 1 + added_height > MAX_DEPTH:
                raise YamlFileError(source, f"alias *{event.anchor} nests more than {MAX_DEPTH} levels deep",
                                    line)
        else:
            continue
        parent = stack[-1]
        parent[0] += added
        parent[1] = max(parent[1], added_height + 1)
        if parent[0] > MAX_NODES:  # every frame stays within the limit, so the document does too
            raise YamlFileError(source, f"expands to more than {MAX_NODES} values (aliases included: "
                                        "a 'YAML bomb'?)", line)


def _file_kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a file"
