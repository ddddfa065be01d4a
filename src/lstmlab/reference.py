"""The config reference, generated from the dataclass schemas: every key of every group, its
type, default, allowed values and help (the schemas' field metadata, see config.setting).
One source for `lstmlab --help GROUP` and the handbook's Reference page, so neither can drift
from what Hydra validates."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from omegaconf import MISSING, OmegaConf

from lstmlab.config import CONF_DIR, SCHEMAS, Config


@dataclass(frozen=True)
class Key:
    key: str  # dotted, as an override names it: schedule.plateau.factor
    type: str
    default: str
    help: str


@dataclass(frozen=True)
class Section:
    """One schema: the group it belongs to, the options (YAML files) built on it, and its keys.
    A schema extending another lists only its own keys; parents: the schemas (of its group)
    whose keys it has too. shared: a base that several options' schemas extend."""

    group: str | None
    schema: str
    options: list[str]
    keys: list[Key]
    parents: list[str] = dataclasses.field(default_factory=list)
    shared: bool = False

    @property
    def title(self) -> str:
        if self.group is None:
            return "Top level"
        if self.shared:
            return f"Every {self.group} of " + ", ".join(self.options)
        return (
            ", ".join(f"{self.group}={o}" for o in self.options) or f"{self.group} ({self.schema})"
        )


def _type_name(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        names = [_type_name(a) for a in typing.get_args(hint) if a is not type(None)]
        nullable = type(None) in typing.get_args(hint)
        return " or ".join(names) + (" or null" if nullable else "")
    if origin in (list, tuple):
        (item, *_) = typing.get_args(hint) or (Any,)
        return f"list of {_type_name(item)}"
    if isinstance(hint, type) and issubclass(hint, Enum):
        return "one of " + ", ".join(m.value for m in hint)
    if hint is Any:
        return "any"
    return getattr(hint, "__name__", str(hint))


def _default(f: dataclasses.Field) -> str:
    factory = f.default_factory
    value = f.default if factory is dataclasses.MISSING else factory()
    if value is MISSING or value is dataclasses.MISSING:
        return "required"
    if isinstance(value, Enum):
        return value.value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def _nested(hint: Any) -> type | None:
    """The dataclass a field holds (its keys listed under the field's), or None."""
    for arg in (hint, *typing.get_args(hint)):
        if dataclasses.is_dataclass(arg):
            return arg
    return None


def keys(schema: type, prefix: str = "", skip: frozenset[str] = frozenset()) -> list[Key]:
    """Every key of a schema, nested dataclasses flattened into dotted keys; skip: fields not
    listed (another schema's, or groups of their own)."""
    hints = typing.get_type_hints(schema)
    found = []
    for f in dataclasses.fields(schema):
        if f.name in skip:
            continue
        name, hint = f"{prefix}{f.name}", hints[f.name]
        nested = _nested(hint)
        help_text = f.metadata.get("help", "")
        if nested is not None:
            found.append(Key(name, "section", "", help_text))
            found += keys(nested, f"{name}.")
        else:
            found.append(Key(name, _type_name(hint), _default(f), help_text))
    return found


def _options(group: str, folders: list[Path]) -> dict[str, list[str]]:
    """For each schema of a group, the options built on it: those whose YAML defaults list
    names it, and those that extend such an option (model=alstm_fcn: defaults [lstm_fcn])."""
    parent: dict[str, str] = {}
    for folder in folders:
        for path in sorted((folder / group).glob("*.yaml")):
            defaults = OmegaConf.load(path).get("defaults") or []
            named = [e for e in defaults if isinstance(e, str) and e != "_self_"]
            if named:
                parent[path.stem] = named[0]
    by_schema: dict[str, list[str]] = {}
    for option in parent:
        schema, seen = parent[option], {option}
        while not schema.endswith("_schema") and schema in parent and schema not in seen:
            seen.add(schema)
            schema = parent[schema]
        if schema.endswith("_schema"):
            by_schema.setdefault(schema, []).append(option)
    return by_schema


def _bases(schema: type) -> list[type]:
    return [b for b in schema.__mro__[1:] if dataclasses.is_dataclass(b)]


def sections(folders: list[Path] | None = None) -> list[Section]:
    """The reference, schema by schema: the top level first, then each group's (the keys its
    options share first, then each option's own)."""
    folders = folders or [CONF_DIR]
    groups = {g for g, _ in SCHEMAS if g is not None}
    config_fields = {f.name: f for f in dataclasses.fields(Config)}
    by_group = {group: _options(group, folders) for group in groups}
    top = Section(None, "config_schema", [], keys(Config, skip=frozenset(groups)))
    result = [top]
    for group in sorted(groups & set(config_fields), reverse=True):
        options = sorted(o for opts in by_group[group].values() for o in opts)
        hint = config_fields[group].metadata["help"]
        top.keys.insert(0, Key(group, "group", "", f"{hint} Options: " + ", ".join(options)))
    for group in sorted(groups):
        options = by_group[group]
        schemas = {n: s for (g, n), s in SCHEMAS.items() if g == group}
        named = {s: n for n, s in schemas.items()}
        # A base two or more of the group's schemas extend gets a section of its own.
        shared = [b for b in {b for s in schemas.values() for b in _bases(s)} if b not in named
                  and sum(b in _bases(s) for s in schemas.values()) > 1]  # fmt: skip
        for base in sorted(shared, key=lambda b: b.__name__):
            users = [o for n, s in schemas.items() if base in _bases(s) for o in options.get(n, [])]
            inherited = frozenset(f.name for b in _bases(base) for f in dataclasses.fields(b))
            result.append(Section(group, base.__name__, users, keys(base, f"{group}.", inherited),
                                  shared=True))  # fmt: skip
        for name, schema in schemas.items():
            parents = [b for b in _bases(schema) if b in named or b in shared]
            inherited = _unchanged(schema, parents)
            result.append(Section(group, name, options.get(name, []),
                                  keys(schema, f"{group}.", inherited),
                                  [named.get(b, b.__name__) for b in parents]))  # fmt: skip
    return result


def _unchanged(schema: type, parents: list[type]) -> frozenset[str]:
    """The fields schema takes from its parents as they are: one it redefines (ResNet's
    filters, with their own default and help) is listed in its own section."""
    own = {f.name: f for f in dataclasses.fields(schema)}
    return frozenset(
        f.name for b in parents for f in dataclasses.fields(b)
        if _default(own[f.name]) == _default(f)
        and own[f.name].metadata.get("help") == f.metadata.get("help")
    )  # fmt: skip


def missing_help() -> list[str]:
    """Keys whose schema field has no help text (the reference test fails on any)."""
    return [f"{s.schema}: {k.key}" for s in sections() for k in s.keys if not k.help.strip()]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(level: int = 2) -> str:
    """The handbook's reference: one table per schema."""
    out = []
    sections_ = sections()
    for s in sections_:
        out.append(f"{'#' * level} {s.title}\n")
        titles = [p.title for p in by_schema(s.parents, sections_)]
        if titles:
            out.append(f"Also every key of {'; '.join(t[0].lower() + t[1:] for t in titles)}.\n")
        out.append("| key | type | default | help |\n| --- | --- | --- | --- |")
        for k in s.keys:
            default = f"`{_cell(k.default)}`" if k.default else ""
            out.append(f"| `{k.key}` | {_cell(k.type)} | {default} | {_cell(k.help)} |")
        out.append("")
    return "\n".join(out)


def by_schema(names: list[str], found: list[Section]) -> list[Section]:
    return [s for n in names for s in found if s.schema == n]


def of_option(group: str, option: str, found: list[Section] | None = None) -> list[Section]:
    """The sections whose keys one option has: its schema's, and those it extends (first)."""
    found = found if found is not None else sections()
    chain = [s for s in found if s.group == group and not s.shared and option in s.options]
    for s in chain:
        chain += [p for p in by_schema(s.parents, found) if p not in chain]
    return list(reversed(chain))


def text(selector: str, folders: list[Path] | None = None, width: int = 92) -> str:
    """`lstmlab --help SELECTOR`: the keys under a group or key prefix (model, schedule.plateau,
    eval.samples), the top level (top), or every key of one option (model=fcn), for a
    terminal; empty when nothing matches."""
    import textwrap

    found = sections(folders)
    group, _, option = selector.partition("=")
    picked: list[tuple[Section, list[Key]]] = []
    if option:
        chain = of_option(group, option, found)
        # A key the option's own schema redefines is shown there only, with its default.
        for i, s in enumerate(chain):
            later = {k.key for c in chain[i + 1 :] for k in c.keys}
            picked.append((s, [k for k in s.keys if k.key not in later]))
    else:
        for s in found:
            top = s.group is None and selector in ("top", "")
            hits = [k for k in s.keys
                    if top or k.key == selector or k.key.startswith(f"{selector}.")]  # fmt: skip
            if hits:
                picked.append((s, hits))
    out = []
    for s, shown in picked:
        out.append(f"{s.title}:")
        for k in shown:
            kind = f"{k.type}; default {k.default}" if k.default else k.type
            out.append(f"  {k.key}  ({kind})")
            out.append(textwrap.fill(k.help, width, initial_indent=" " * 6,
                                     subsequent_indent=" " * 6))  # fmt: skip
        out.append("")
    return "\n".join(out).rstrip()


if __name__ == "__main__":  # python -m lstmlab.reference: the reference as markdown
    print(markdown())
