"""Text derivation for TextWorld's context-sensitive grammar, with the pure parts parsed once.

TextWorld's ``ContextSensitiveGrammar.derive`` re-parses every template string with tatsu, re-parses
every rule condition and deep-copies every context, for each admissible command on every step (about 90%
of a stock step). This module derives the same text from the same rules, but:

* template strings and conjunctive queries are parsed once per process (both parsers are pure);
* parsed symbols are never mutated, so they are shared instead of copied: the derivation stack holds
  ``(symbol, context)`` pairs;
* contexts are copied shallowly; no step of a derivation mutates an entity, a placeholder or a variable,
  only the ``variables`` and ``mapping`` dicts themselves, which are still copied.

The derivation order, the rule choice (first rule whose condition holds) and list rendering follow
``textworld.envs.pddl.textgen`` exactly; the transcript tests compare both on real games.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from textworld.envs.pddl.textgen import (
    ConditionalSymbol,
    CSGUnknownSymbolError,
    EvalSymbol,
    ListSymbol,
    NonterminalSymbol,
    Symbol,
    TerminalSymbol,
)
from textworld.envs.pddl.textgen import _parse_and_convert as _stock_parse_symbols
from textworld.logic import Rule

__all__ = ["CachedGrammar", "parse_symbols"]

Context = dict[str, Any]


@lru_cache(maxsize=4096)
def parse_symbols(text: str) -> tuple[Symbol, ...]:
    """Parse a grammar template (``"You arrive at {r.name}. #examineReceptacle.feedback#"``) once.

    The returned symbols are shared between callers and must not be mutated.
    """
    return tuple(_stock_parse_symbols(text, rule_name="symbols"))


@lru_cache(maxsize=4096)
def parse_query(expression: str) -> Rule:
    """Parse a rule condition such as ``"inReceptacle(o, r)"`` once (shared, read-only)."""
    return Rule.parse_conjunctive_query(expression)


def _copy_context(context: Context) -> Context:
    return {
        "state": context["state"],
        "facts": context["facts"],
        "variables": dict(context["variables"]),
        "mapping": dict(context["mapping"]),
        "entity_infos": context["entity_infos"],
    }


def _query(expression: str, context: Context) -> list[Context]:
    """One context per assignment that satisfies ``expression`` (in the state's enumeration order)."""
    rule = parse_query(expression)
    entity_infos = context["entity_infos"]
    contexts = []
    for mapping in context["state"].all_assignments(rule, context["mapping"]):
        new_context = _copy_context(context)
        new_context["variables"].update({ph.name: entity_infos[var.name] for ph, var in mapping.items()})
        new_context["mapping"].update(mapping)
        contexts.append(new_context)
    return contexts


class CachedGrammar:
    """Derives text from the production rules of a parsed ``ContextSensitiveGrammar``.

    Args:
        rules: ``ContextSensitiveGrammar._rules`` (symbol name -> list of ``ProductionRule``); read only.
    """

    def __init__(self, rules: dict[str, list]) -> None:
        self._rules = rules

    def _expand_nonterminal(self, symbol: NonterminalSymbol, context: Context) -> list[tuple[Symbol, Context]]:
        rules = self._rules.get(str(symbol))
        if not rules:
            raise CSGUnknownSymbolError(symbol)
        state, mapping = context["state"], context["mapping"]
        for rule in rules:
            if not rule.condition:
                break
            if next(iter(state.all_assignments(parse_query(rule.condition), mapping)), None) is not None:
                break
        else:
            # Stock behaviour: no applicable rule is an IndexError on the empty list.
            raise IndexError(f"no applicable production rule for #{symbol}#")
        return [(s, _copy_context(context)) for s in rule.rhs]

    def _expand(self, symbol: Symbol, context: Context) -> list[tuple[Symbol, Context]]:
        """Expand one non-terminal symbol into the symbols (with contexts) that replace it."""
        if isinstance(symbol, NonterminalSymbol):
            return self._expand_nonterminal(symbol, context)
        if isinstance(symbol, ConditionalSymbol):
            if len(context) == 0:
                raise ValueError("Empty context")
            context = _copy_context(context)
            contexts = _query(symbol.given, context) if symbol.given else [context]
            # Stock copies the expression with a copy of each context.
            return [(symbol.expression, _copy_context(c)) for c in contexts]
        if isinstance(symbol, EvalSymbol):
            return [(s, context) for s in symbol.derive(context)]
        if isinstance(symbol, ListSymbol):
            items = self._expand(symbol.symbol, context)
            if len(items) == 0:
                return [(NonterminalSymbol("list_empty"), context)]
            if len(items) == 1:
                return items
            separator = (NonterminalSymbol("list_separator"), context)
            out: list[tuple[Symbol, Context]] = []
            for item in items[:-1]:
                out += [item, separator]
            out[-1] = (NonterminalSymbol("list_last_separator"), context)
            out.append(items[-1])
            return out
        raise NotImplementedError(f"Unknown symbol: {type(symbol)}")

    def derive(self, start: str, context: Context) -> str:
        """Derive the text of template ``start`` in ``context`` (``state``, ``facts``, ``variables``,
        ``mapping``, ``entity_infos``), exactly as ``ContextSensitiveGrammar.derive`` does."""
        stack = [(s, _copy_context(context)) for s in reversed(parse_symbols(start))]
        derived: list[str] = []
        while stack:
            symbol, ctx = stack.pop()
            if isinstance(symbol, TerminalSymbol):
                derived.append(str(symbol))
            else:
                stack += reversed(self._expand(symbol, ctx))
        return "".join(derived)
