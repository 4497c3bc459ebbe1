"""TextWorld's ``.twl2`` game logic (ALFWorld's ``alfred.twl2``) read and derived without TextWorld.

A ``.twl2`` file holds a context-sensitive grammar (JSON rules ``name -> [{"rhs", "condition"}]``) and
one block per action (``template``, ``feedback``, optional ``grammar``). A right-hand side is a sequence
of symbols: plain text, ``#rule#``, ``{expression}``, ``{expression | query}`` (one copy per assignment
of the query) and ``[{...}]`` (a list rendered with the ``list_*`` rules). Queries are conjunctions
``pred(x:type, ...) & ...`` matched against the state in TextWorld's order: predicate by predicate, facts
sorted, each new placeholder bound to a variable not bound yet.

The derivation follows ``textworld.envs.pddl.textgen`` step for step (as ``textgen.CachedGrammar`` does),
with parsed symbols shared read-only and expressions evaluated by a small attribute/``+``/``or``
interpreter instead of ``eval``.
"""

from __future__ import annotations

import ast
import json
import re
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

__all__ = ["ActionText", "Entity", "GrammarError", "TextLogic", "parse_query", "parse_symbols", "parse_twl2"]


class GrammarError(ValueError):
    """A ``.twl2`` text or grammar symbol this reader does not understand."""


@dataclass(frozen=True)
class Entity:
    """What grammar expressions see of an entity (TextWorld's ``EntityInfo`` fields that ALFWorld uses)."""

    id: str
    type: str
    name: str
    indefinite: str = "a"
    definite: str = "the"

    def __str__(self) -> str:
        return self.name


# ---------------------------------------------------------------------------------------------------
# Symbols


@dataclass(frozen=True)
class Terminal:
    text: str


@dataclass(frozen=True)
class Nonterminal:
    name: str


@dataclass(frozen=True)
class Eval:
    expression: str
    fn: Callable[[dict], Any]


@dataclass(frozen=True)
class Conditional:
    expression: Nonterminal | Eval
    given: str  # "" when absent


@dataclass(frozen=True)
class ListOf:
    symbol: Conditional


Symbol = Terminal | Nonterminal | Eval | Conditional | ListOf

_TAG = re.compile(r"[\w()/!<>\-\s,.]+")
_GIVEN = re.compile(r"[^;|{}\n\[\]#]+")
_STATEMENT = re.compile(r"[^|\[\]{}\n<>]+")
_LITERAL = re.compile(r'[^;|"<>\[\]#{}]*')
_BAR = re.compile(r"\s*\|\s*")

_ALLOWED_ATTRS = frozenset({"name", "id", "indefinite", "definite", "type"})


def _compile_expression(text: str) -> Callable[[dict], Any]:
    """An evaluator of a grammar expression: names, ``.name``-style attributes, strings, ``+``, ``or``."""
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        raise GrammarError(f"cannot parse grammar expression {text!r}: {exc.msg}") from exc

    def build(node: ast.AST) -> Callable[[dict], Any]:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            value = node.value
            return lambda v: value
        if isinstance(node, ast.Name):
            name = node.id
            return lambda v: v[name]
        if isinstance(node, ast.Attribute) and node.attr in _ALLOWED_ATTRS:
            inner, attr = build(node.value), node.attr
            return lambda v: getattr(inner(v), attr)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left, right = build(node.left), build(node.right)
            return lambda v: left(v) + right(v)
        if isinstance(node, ast.BoolOp):
            parts = [build(n) for n in node.values]
            if isinstance(node.op, ast.Or):
                def either(v: dict) -> Any:
                    value = None
                    for part in parts:
                        value = part(v)
                        if value:
                            return value
                    return value
                return either
            def both(v: dict) -> Any:
                value = None
                for part in parts:
                    value = part(v)
                    if not value:
                        return value
                return value
            return both
        raise GrammarError(f"unsupported construct {type(node).__name__} in grammar expression {text!r}")

    return build(tree)


def _parse_nonterminal(text: str, i: int) -> tuple[Nonterminal, int] | None:
    if not text.startswith("#", i):
        return None
    m = _TAG.match(text, i + 1)
    if m is None or not text.startswith("#", m.end()):
        return None
    return Nonterminal(m.group(0)), m.end() + 1


def _parse_conditional(text: str, i: int) -> tuple[Conditional, int] | None:
    if not text.startswith("{", i):
        return None
    j = i + 1
    nt = _parse_nonterminal(text, j)
    if nt is not None:
        expression, j = nt
    else:
        m = _STATEMENT.match(text, j)
        if m is None:
            return None
        expression, j = Eval(m.group(0), _compile_expression(m.group(0))), m.end()
    given = ""
    bar = _BAR.match(text, j)
    if bar is not None:
        m = _GIVEN.match(text, bar.end())
        if m is not None:
            given, j = m.group(0), m.end()
    if not text.startswith("}", j):
        return None
    return Conditional(expression, given), j + 1


def _parse_symbol(text: str, i: int) -> tuple[Symbol, int] | None:
    if text.startswith("[", i):
        cond = _parse_conditional(text, i + 1)
        if cond is not None and text.startswith("]", cond[1]):
            return ListOf(cond[0]), cond[1] + 1
    for parser in (_parse_conditional, _parse_nonterminal):
        parsed = parser(text, i)
        if parsed is not None:
            return parsed
    if text.startswith('"', i):
        m = _LITERAL.match(text, i + 1)
        if text.startswith('"', m.end()):
            return Terminal(m.group(0)), m.end() + 1
    m = _LITERAL.match(text, i)
    if m.end() == i:
        return None
    return Terminal(m.group(0)), m.end()


@lru_cache(maxsize=4096)
def parse_symbols(text: str) -> tuple[Symbol, ...]:
    """The symbols of a right-hand side; parsing stops at the first text that is no symbol (as TatSu's
    ``symbols`` rule does without an end anchor); leading whitespace is skipped, as TatSu does."""
    symbols: list[Symbol] = []
    i = len(text) - len(text.lstrip())
    while i < len(text):
        parsed = _parse_symbol(text, i)
        if parsed is None:
            break
        symbol, i = parsed
        symbols.append(symbol)
    if not symbols:
        symbols.append(Terminal(""))
    return tuple(symbols)


_PRED = re.compile(r"\s*([\w]+)\s*\(([^)]*)\)\s*")


@lru_cache(maxsize=1024)
def parse_query(expression: str) -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
    """``"atlocation(a:agent, l:location) & ..."`` -> ((predicate, ((placeholder, type), ...)), ...)."""
    out = []
    for part in expression.split("&"):
        m = _PRED.fullmatch(part)
        if m is None:
            raise GrammarError(f"cannot parse query {expression!r} (at {part!r})")
        args = []
        for arg in (a.strip() for a in m.group(2).split(",") if a.strip()):
            name, _, type_ = arg.partition(":")
            args.append((name.strip(), type_.strip() or name.strip()))
        out.append((m.group(1), tuple(args)))
    return tuple(out)


# ---------------------------------------------------------------------------------------------------
# The .twl2 file


@dataclass(frozen=True)
class ActionText:
    name: str  # lower-cased, as the PDDL reader names actions
    template: str
    feedback: str


@dataclass(frozen=True)
class Rule:
    rhs: tuple[Symbol, ...]
    condition: str


@dataclass(frozen=True)
class TextLogic:
    """The parsed ``.twl2``: grammar rules (name -> rules in order) and the actions' texts."""

    rules: dict[str, tuple[Rule, ...]]
    actions: dict[str, ActionText]

    def with_text(self, old: str, new: str) -> TextLogic:
        """The same logic with ``old`` replaced by ``new`` in every plain-text rule symbol (``new`` must be
        plain text: no grammar syntax). What a grammar parsed with ``new`` in place of ``old`` gives, when
        ``old`` appears only in plain text."""
        if parse_symbols(new) != (Terminal(new),):
            raise GrammarError(f"not plain text: {new!r}")

        def replaced(rule: Rule) -> Rule:
            if not any(isinstance(s, Terminal) and old in s.text for s in rule.rhs):
                return rule
            rhs = tuple(Terminal(s.text.replace(old, new)) if isinstance(s, Terminal) else s for s in rule.rhs)
            return Rule(rhs, rule.condition)

        return TextLogic({name: tuple(map(replaced, rules)) for name, rules in self.rules.items()}, self.actions)


_STR = r'"[^"]*"'
_BLOCK = r'"""(?:.|\n)*?"""'
_ITEM = re.compile(rf"\s*(grammar|action)\s*(?:::\s*({_BLOCK})\s*;|([\w/-]+)\s*\{{)", re.S)
_FIELD = re.compile(rf"\s*(template|feedback|pddl|grammar)\s*::\s*({_BLOCK}|{_STR})\s*;", re.S)
_CLOSE = re.compile(r"\s*\}")


def _unblock(block: str) -> str:
    return textwrap.dedent(block[3:-3])


def parse_twl2(text: str) -> TextLogic:
    """Read a ``.twl2`` text. Raises :class:`GrammarError` naming what it could not read."""
    raw_rules: dict[str, list] = {}
    actions: dict[str, ActionText] = {}
    i = 0
    text = text.rstrip()

    def add_grammar(data: str, strip_comments: bool) -> None:
        if strip_comments:
            data = "\n".join(line for line in data.split("\n") if not line.lstrip().startswith("#"))
        try:
            rules = json.loads(data)
        except json.JSONDecodeError as exc:
            raise GrammarError(f"grammar block is not JSON: {exc}") from exc
        # ContextSensitiveGrammar.update: a JSON update per block, then rules appended per name.
        for name, entries in rules.items():
            raw_rules.setdefault(name, [])
            raw_rules[name] = list(entries)

    while i < len(text):
        m = _ITEM.match(text, i)
        if m is None:
            raise GrammarError(f"cannot read the game logic at {text[i:i + 40]!r}")
        if m.group(1) == "grammar":
            if m.group(2) is None:
                raise GrammarError("grammar :: must be followed by a triple-quoted block")
            add_grammar(_unblock(m.group(2)), False)
            i = m.end()
            continue
        name = m.group(3)
        i = m.end()
        fields: dict[str, str] = {}
        while True:
            f = _FIELD.match(text, i)
            if f is None:
                break
            fields[f.group(1)] = f.group(2)
            i = f.end()
        close = _CLOSE.match(text, i)
        if close is None:
            raise GrammarError(f"action {name}: cannot read {text[i:i + 40]!r}")
        i = close.end()
        if "template" not in fields or "feedback" not in fields:
            raise GrammarError(f"action {name} lacks a template or a feedback")
        actions[name.lower()] = ActionText(name.lower(), fields["template"][1:-1], fields["feedback"][1:-1])
        if "grammar" in fields:
            add_grammar(_unblock(fields["grammar"]), True)
    rules = {
        name: tuple(Rule(parse_symbols(e["rhs"]), e.get("condition", "")) for e in entries)
        for name, entries in raw_rules.items()
    }
    return TextLogic(rules, actions)


# ---------------------------------------------------------------------------------------------------
# Derivation


class QueryState:
    """What derivation needs of a state: ``assignments(query, mapping)`` in TextWorld's order."""

    def assignments(self, query: str, mapping: dict) -> Iterator[dict]:  # pragma: no cover - interface
        raise NotImplementedError


def _display_list(items: list, ctx: tuple) -> list:
    if not items:
        return [(Nonterminal("list_empty"), ctx)]
    if len(items) == 1:
        return items
    out: list = []
    for item in items[:-1]:
        out += [item, (Nonterminal("list_separator"), ctx)]
    out[-1] = (Nonterminal("list_last_separator"), ctx)
    out.append(items[-1])
    return out


def derive(
    logic: TextLogic, start: str, variables: dict, mapping: dict,
    assignments: Callable[[str, dict], Iterator[dict]], entities: dict[str, Entity],
) -> str:
    """Derive the text of ``start`` given placeholder ``variables`` (name -> Entity), the ``mapping``
    ((name, type) -> id) and ``assignments(query, mapping)`` over the current state."""
    rules = logic.rules

    def expand(symbol, ctx) -> list:
        if isinstance(symbol, Nonterminal):
            options = rules.get(symbol.name)
            if not options:
                raise GrammarError(f"Can't find symbol '#{symbol.name}#' in the set of production rules.")
            for rule in options:
                if not rule.condition or next(iter(assignments(rule.condition, ctx[1])), None) is not None:
                    return [(s, ctx) for s in rule.rhs]
            raise GrammarError(f"no applicable production rule for #{symbol.name}#")
        if isinstance(symbol, Conditional):
            if not symbol.given:
                return [(symbol.expression, ctx)]
            out = []
            for found in assignments(symbol.given, ctx[1]):
                v = dict(ctx[0])
                v.update({ph[0]: entities[var] for ph, var in found.items()})
                m = dict(ctx[1])
                m.update(found)
                out.append((symbol.expression, (v, m)))
            return out
        if isinstance(symbol, Eval):
            return [(Terminal(symbol.fn(ctx[0])), ctx)]
        if isinstance(symbol, ListOf):
            return _display_list(expand(symbol.symbol, ctx), ctx)
        raise GrammarError(f"unknown symbol {symbol!r}")

    ctx0 = (variables, mapping)
    stack = [(s, ctx0) for s in reversed(parse_symbols(start))]
    out: list[str] = []
    while stack:
        symbol, ctx = stack.pop()
        if isinstance(symbol, Terminal):
            out.append(str(symbol.text))
        else:
            stack += reversed(expand(symbol, ctx))
    return "".join(out)
