"""Reading the flows file: YAML to the model, every problem named with its line.

The YAML is composed to nodes first, so each place in the data (`rules[0].then[1].notify`)
knows the line it was written on; pydantic's error locations are then mapped back to the
nearest such place. A file either loads whole or raises FlowsError listing every problem.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError, create_model

from ticketcore.flows.model import FlowModel, Rule

DataPath = tuple[str | int, ...]

NO_SECTIONS: Mapping[str, type[BaseModel]] = MappingProxyType({})
TEXT_SOURCE = "<text>"
MAX_NODES = 100_000  # aliases can multiply a small file; real flows files are far smaller

# Pydantic's words for a few types, in the file's terms.
PLAIN_MESSAGES = {
    "tuple_type": "should be a list",
    "list_type": "should be a list",
    "dict_type": "should be a mapping (key: value)",
    "model_type": "should be a mapping (key: value)",
    "model_attributes_type": "should be a mapping (key: value)",
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the file: where (line, data path) and what."""

    line: int | None
    path: str
    message: str

    def describe(self, source: str) -> str:
        where = source if self.line is None else f"{source}:{self.line}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class FlowsError(ValueError):
    """The flows file is invalid; `problems` says where and why, one per line of str()."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(problem.describe(source) for problem in problems))

    def __reduce__(self) -> tuple[type[FlowsError], tuple[str, list[Problem]]]:
        return type(self), (self.source, self.problems)


class FlowFile(FlowModel):
    """The file's top level; the loader adds a field for each section another part owns."""

    rules: tuple[Rule, ...] = ()

    @classmethod
    def from_yaml(cls, data: Any) -> Any:
        # A key with everything under it commented out reads as null: take it as empty.
        if isinstance(data, Mapping):
            return {k: ([] if k == "rules" else {}) if v is None else v for k, v in data.items()}
        return data


class Flows:
    """A loaded flows file: its rules, indexed by event, and the sections others own."""

    def __init__(
        self,
        rules: Iterable[Rule],
        sections: Mapping[str, BaseModel] | None = None,
        source: str = TEXT_SOURCE,
    ) -> None:
        self.rules = tuple(rules)
        self.sections: dict[str, BaseModel] = dict(sections or {})
        self.source = source
        names = [rule.name for rule in self.rules]
        if len(set(names)) != len(names):
            raise ValueError(f"rule names are not unique: {names}")
        index: dict[str, list[Rule]] = {}
        for rule in self.rules:
            for event in rule.on if rule.enabled else ():
                index.setdefault(event, []).append(rule)
        self._index = {event: tuple(rules) for event, rules in index.items()}
        # Each rule with its compiled condition, taken once for `matching`.
        self._checks = {
            event: tuple((rule, rule.predicate) for rule in rules)
            for event, rules in self._index.items()
        }

    def __repr__(self) -> str:
        return f"Flows({self.source!r}, {len(self.rules)} rules, sections={sorted(self.sections)})"

    def for_event(self, event: str) -> tuple[Rule, ...]:
        """The enabled rules for the event, in file order."""
        return self._index.get(event, ())

    def matching(self, facts: Mapping[str, Any]) -> list[Rule]:
        """The rules for `facts["event"]` whose condition holds, in file order."""
        event = facts.get("event")
        if not isinstance(event, str):
            return []
        checks = self._checks.get(event, ())
        return [rule for rule, holds in checks if holds(facts)]


def load_flows(
    source: str | Path,
    *,
    sections: Mapping[str, type[BaseModel]] = NO_SECTIONS,
    known_macros: Collection[str] | None = None,
) -> Flows:
    """The flows in YAML text (a str) or a file (a Path); raises FlowsError if it is invalid.

    `sections` are the top-level keys besides `rules`, each validated by its model; with
    `known_macros`, a `reply` naming another macro is an error.
    """
    name, text = _read(source)
    data, lines = parse(name, text)
    model = file_model(sections)
    context = {"known_macros": None if known_macros is None else frozenset(known_macros)}
    problems = duplicate_names(data, lines)
    try:
        document = model.model_validate(data, context=context)
    except ValidationError as exc:
        problems.extend(problems_of(exc, data, lines))
    if problems:
        raise FlowsError(name, sorted(problems, key=lambda p: p.line or 0))
    present = {key: getattr(document, key) for key in sections}
    return Flows(document.rules, {k: v for k, v in present.items() if v is not None}, name)


def check_file(
    path: Path,
    *,
    sections: Mapping[str, type[BaseModel]] = NO_SECTIONS,
    known_macros: Collection[str] | None = None,
) -> list[str]:
    """What `helpdesk flows check FILE` prints: "ok: N rules", or one line per problem."""
    try:
        flows = load_flows(path, sections=sections, known_macros=known_macros)
    except FlowsError as exc:
        return str(exc).splitlines()
    count = len(flows.rules)
    disabled = sum(1 for rule in flows.rules if not rule.enabled)
    return [f"ok: {count} rules" + (f" ({disabled} disabled)" if disabled else "")]


def _read(source: str | Path) -> tuple[str, str]:
    if not isinstance(source, Path):
        return TEXT_SOURCE, source
    try:
        return str(source), source.read_text(encoding="utf-8")
    except OSError as exc:
        reason = exc.strerror or str(exc)
    except UnicodeDecodeError as exc:
        reason = f"not UTF-8 text ({exc.reason} at byte {exc.start})"
    raise FlowsError(str(source), [Problem(None, "", f"cannot read the file: {reason}")])


def file_model(sections: Mapping[str, type[BaseModel]]) -> type[FlowFile]:
    """The top level's model: `rules` plus an optional field for each section."""
    if not sections:
        return FlowFile
    if "rules" in sections:
        raise ValueError("`rules` is the flows' own section")
    fields: dict[str, Any] = {key: (model, None) for key, model in sections.items()}
    return create_model("FlowFileWithSections", __base__=FlowFile, **fields)


# ----------------------------------------------------------------- YAML with lines


class _Loader(yaml.SafeLoader):  # type: ignore[misc]
    """PyYAML's safe loader reading plain scalars as YAML 1.2 does: only true/false are
    booleans (so `on:` is a key and `NO` a country code), and `18:00` is text, not the
    base-60 number 1080."""


_BOOL, _INT, _FLOAT = (f"tag:yaml.org,2002:{kind}" for kind in ("bool", "int", "float"))
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in {_BOOL, _INT, _FLOAT}]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Loader.add_implicit_resolver(  # PyYAML's, without the base-60 form
    _INT,
    re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"),
)
_Loader.add_implicit_resolver(  # PyYAML's, without the base-60 form
    _FLOAT,
    re.compile(
        r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?"
        r"|\.[0-9_]+(?:[eE][-+][0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)"
        r"|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


class _TooLarge(Exception):
    pass


@dataclass
class _Tree:
    """Plain data built from YAML nodes, recording each path's line."""

    loader: Any
    lines: dict[DataPath, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    nodes: int = 0

    def value(self, node: Any, path: DataPath, active: frozenset[int]) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _TooLarge
        if id(node) in active:
            self.problems.append(Problem(line_of(node), dotted(path), "an alias refers to itself"))
            return None
        if isinstance(node, yaml.MappingNode):
            return self.mapping(node, path, active | {id(node)})
        if isinstance(node, yaml.SequenceNode):
            items = []
            for index, item in enumerate(node.value):
                self.lines[(*path, index)] = line_of(item)
                items.append(self.value(item, (*path, index), active | {id(node)}))
            return items
        return self.loader.construct_object(node)

    def mapping(self, node: Any, path: DataPath, active: frozenset[int]) -> dict[str, Any]:
        self.loader.flatten_mapping(node)  # resolves `<<: *defaults`
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.problems.append(Problem(line_of(key_node), dotted(path), "a key must be text"))
                continue
            key = key_node.value  # as written: `on` stays "on", `yes` stays "yes"
            here = (*path, key)
            if key in result:
                message = f"duplicate key '{key}'"
                self.problems.append(Problem(line_of(key_node), dotted(here), message))
                continue
            self.lines[here] = line_of(key_node)
            result[key] = self.value(value_node, here, active)
        return result


def line_of(node: Any) -> int:
    return int(node.start_mark.line) + 1


def parse(source: str, text: str) -> tuple[Any, dict[DataPath, int]]:
    """The document as plain data and the line of each of its paths; raises FlowsError."""
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return {}, {}
        tree = _Tree(loader, lines={(): line_of(root)})
        data = tree.value(root, (), frozenset())
    except yaml.MarkedYAMLError as exc:
        raise FlowsError(source, [yaml_problem(exc)]) from None
    except yaml.YAMLError as exc:
        raise FlowsError(source, [Problem(None, "", f"invalid YAML: {exc}")]) from None
    except (_TooLarge, RecursionError):
        message = "the file is too large or too deeply nested (aliases expanding?)"
        raise FlowsError(source, [Problem(None, "", message)]) from None
    finally:
        loader.dispose()
    if tree.problems:
        raise FlowsError(source, tree.problems)
    if not isinstance(data, dict):
        message = "the file must be a mapping with a `rules:` list"
        raise FlowsError(source, [Problem(line_of(root), "", message)])
    return data, tree.lines


def yaml_problem(exc: yaml.MarkedYAMLError) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    message = f"invalid YAML: {exc.problem or exc.context}"
    if exc.context and exc.problem:
        context_line = f" at line {exc.context_mark.line + 1}" if exc.context_mark else ""
        message += f" ({exc.context}{context_line})"
    return Problem(mark.line + 1 if mark else None, "", message)


# ----------------------------------------------------------------- problems


def dotted(path: DataPath) -> str:
    """`("rules", 0, "then")` as `rules[0].then`."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


def in_data(data: Any, loc: tuple[Any, ...]) -> DataPath:
    """The longest start of an error location that is a place in the data.

    Past it are places the file does not have: a missing key, or the field a shorthand
    such as `set_priority: high` stands for.
    """
    path: DataPath = ()
    for part in loc:
        if not has_place(data, part):
            break
        data = data[part]
        path = (*path, part)
    return path


def has_place(data: Any, part: Any) -> bool:
    if isinstance(data, dict):
        return part in data
    return isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data)


def nearest_line(lines: Mapping[DataPath, int], path: DataPath) -> int | None:
    while path not in lines and path:
        path = path[:-1]
    return lines.get(path)


def problems_of(exc: ValidationError, data: Any, lines: Mapping[DataPath, int]) -> list[Problem]:
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        loc = tuple(error["loc"])
        kind = error["type"]
        message = PLAIN_MESSAGES.get(kind, error["msg"])
        if kind in ("unknown_key", "extra_forbidden"):
            # Point at the key itself, on its own line.
            loc = (*loc, error["ctx"]["key"]) if kind == "unknown_key" else loc
            message = message if kind == "unknown_key" else f"unknown key '{loc[-1]}'"
        path = in_data(data, loc)
        if kind == "missing" and len(path) < len(loc):
            message = f"missing required key '{loc[len(path)]}'"
        elif kind == "too_short":
            message = f"should have at least {error['ctx']['min_length']} item(s)"
        problems.append(Problem(nearest_line(lines, path), dotted(path), plain(message)))
    return problems


def plain(message: str) -> str:
    """Pydantic's sentence as a clause like ours: "Input should be" -> "input should be"."""
    message = message.removeprefix("Value error, ")
    if message[:2].istitle():
        message = message[0].lower() + message[1:]
    return message


def duplicate_names(data: Any, lines: Mapping[DataPath, int]) -> list[Problem]:
    """Rules sharing a name, each after the first; checked on the raw data so they are
    reported together with every other problem."""
    rules = data.get("rules") if isinstance(data, dict) else None
    first: dict[str, int] = {}
    problems = []
    for index, rule in enumerate(rules if isinstance(rules, list) else []):
        name = rule.get("name") if isinstance(rule, dict) else None
        if not isinstance(name, str):
            continue
        if name not in first:
            first[name] = index
            continue
        path = ("rules", index, "name")
        earlier = lines.get(("rules", first[name], "name"))
        message = f"duplicate rule name '{name}' (first at line {earlier})"
        problems.append(Problem(lines.get(path), dotted(path), message))
    return problems
