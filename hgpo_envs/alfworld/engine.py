"""TextWorld's PDDL engine for ALFWorld games, with the pure work done once.

``FastPddlEnv`` is a ``textworld.envs.PddlEnv`` whose ``load``/``reset``/``step`` produce the same
observations, admissible commands and wins as the stock engine wrapped in ALFWorld's
``AlfredDemangler(shuffle=False)``, but

* parse the game logic (domain + grammar) once per grammar template (the games of a set share one
  grammar up to the task sentence, which is patched into the parsed rules);
* translate PDDL to SAS once per problem text and rebuild the state from that translation on reset
  (stock translates twice per state and builds a state in both ``load`` and ``reset``); the second,
  optimised translation is only made when a plan is asked for;
* derive text with :class:`~hgpo_envs.alfworld.textgen.CachedGrammar`.

Nothing here patches TextWorld: the caches belong to this module and only our environments use them.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import fast_downward
import textworld
from textworld.core import EnvInfos, GameState
from textworld.envs import PddlEnv
from textworld.envs.pddl import logic as pddl_logic
from textworld.envs.pddl.textgen import ContextSensitiveGrammar, ProductionRule, TerminalSymbol
from textworld.logic import Proposition, Variable

from hgpo_envs.alfworld.logic import GRAMMAR_PLACEHOLDER, TASK_LINE_RE
from hgpo_envs.alfworld.names import alfred_names
from hgpo_envs.alfworld.textgen import CachedGrammar

__all__ = ["FastPddlEnv", "TextWorldEngine", "alfred_names", "translate"]

# Task sentences made only of these characters parse to one plain terminal symbol.
_PLAIN_TEXT_RE = re.compile(r"[A-Za-z0-9 ,'-]*")


# ---------------------------------------------------------------------------------------------------
# Logic: parsed once per grammar template.


class _Logic:
    """The parts of ``pddl_logic.GameLogic`` the engine reads: ``domain``, ``actions``, ``types``,
    ``grammar`` (a stock grammar holding the rules) and ``fast_grammar`` (our deriver over them)."""

    def __init__(self, domain: str, actions: dict, types: Any, rules: dict[str, list]) -> None:
        self.domain = domain
        self.actions = actions
        self.types = types
        self.grammar = ContextSensitiveGrammar()
        self.grammar._rules.update(rules)
        self.fast_grammar = CachedGrammar(self.grammar._rules)


_TEMPLATE_LOGIC: OrderedDict[tuple[str, str], pddl_logic.GameLogic] = OrderedDict()
_TEMPLATE_LOGIC_SIZE = 8


def _template_logic(domain: str, grammar_template: str) -> pddl_logic.GameLogic:
    key = (domain, grammar_template)
    logic = _TEMPLATE_LOGIC.get(key)
    if logic is None:
        logic = pddl_logic.GameLogic(domain=domain, grammar=grammar_template)
        _TEMPLATE_LOGIC[key] = logic
        if len(_TEMPLATE_LOGIC) > _TEMPLATE_LOGIC_SIZE:
            _TEMPLATE_LOGIC.popitem(last=False)
    _TEMPLATE_LOGIC.move_to_end(key)
    return logic


def game_logic(domain: str, grammar: str) -> _Logic:
    """Parsed logic of a game; the grammar template (task sentence masked) is parsed once."""
    match = TASK_LINE_RE.search(grammar)
    task = match.group(1) if match else None
    if task is None or task == GRAMMAR_PLACEHOLDER or not _PLAIN_TEXT_RE.fullmatch(task):
        base = _template_logic(domain, grammar)
        return _Logic(domain, base.actions, base.types, dict(base.grammar._rules))
    template = grammar[: match.start(1)] + GRAMMAR_PLACEHOLDER + grammar[match.end(1) :]
    base = _template_logic(domain, template)
    rules = dict(base.grammar._rules)
    placeholder_text = f"Your task is to: {GRAMMAR_PLACEHOLDER}."
    task_text = f"Your task is to: {task}."

    def patched(production: ProductionRule) -> ProductionRule:
        if not all(isinstance(s, TerminalSymbol) for s in production.rhs):
            return production
        if not any(placeholder_text in s.symbol for s in production.rhs):
            return production
        rhs = [TerminalSymbol(s.symbol.replace(placeholder_text, task_text)) for s in production.rhs]
        return ProductionRule(production.lhs, rhs, weight=production.weight, condition=production.condition)

    changed = False
    for name, productions in rules.items():
        new = [patched(p) for p in productions]
        changed = changed or any(a is not b for a, b in zip(new, productions, strict=True))
        rules[name] = new
    if not changed:  # the task line is not one plain terminal in this grammar: parse it whole
        base = _template_logic(domain, grammar)
        rules = dict(base.grammar._rules)
    return _Logic(domain, base.actions, base.types, rules)


# ---------------------------------------------------------------------------------------------------
# PDDL -> SAS translation: once per problem.


@dataclass(frozen=True)
class Translation:
    """Result of fast-downward's translation of one (domain, problem) pair. Read only."""

    task: Any
    sas: bytes
    init_facts: tuple[Proposition, ...]
    name2type: Mapping[str, str]


def _pddl2sas(domain: str, problem: str, optimize: bool = False) -> tuple[Any, str]:
    # fast-downward's option parser rewrites sys.argv; keep the caller's.
    argv = list(sys.argv)
    try:
        return fast_downward.pddl2sas(domain, problem, verbose=False, optimize=optimize)
    finally:
        sys.argv[:] = argv


def translate(domain: str, problem: str) -> Translation:
    """Translate a problem and precompute the initial facts, as ``PddlState.__init__`` does."""
    task, sas = _pddl2sas(domain, problem)
    name2type = {o.name: o.type_name for o in task.objects}
    facts = []
    for atom in task.init:
        if isinstance(atom, fast_downward.translate.pddl.conditions.Atom):
            if atom.predicate == "=":
                continue
            facts.append(Proposition(atom.predicate, [Variable(arg, name2type[arg]) for arg in atom.args]))
        elif isinstance(atom, fast_downward.translate.pddl.f_expression.Assign):
            if atom.fluent.symbol == "total-cost":
                continue
            name = f"{atom.expression.value}"
            if str.isdigit(name):  # distances
                continue
            facts.append(Proposition(name, [Variable(arg, name2type[arg]) for arg in atom.fluent.args]))
    return Translation(task=task, sas=sas.encode("utf-8"), init_facts=tuple(facts), name2type=name2type)


_TRANSLATIONS: OrderedDict[tuple[str, str], Translation] = OrderedDict()
_TRANSLATIONS_SIZE = 8


def cached_translation(domain: str, problem: str) -> Translation:
    """:func:`translate`, memoised for the most recently used problems of this process."""
    key = (domain, problem)
    translation = _TRANSLATIONS.get(key)
    if translation is None:
        translation = translate(domain, problem)
        _TRANSLATIONS[key] = translation
        if len(_TRANSLATIONS) > _TRANSLATIONS_SIZE:
            _TRANSLATIONS.popitem(last=False)
    _TRANSLATIONS.move_to_end(key)
    return translation


class _CachedPddlState(pddl_logic.PddlState):
    """``PddlState`` built from a cached translation instead of translating again."""

    def __init__(self, downward_lib: Any, pddl_problem: str, logic: _Logic, translation: Translation) -> None:
        # Same fields as PddlState.__init__ (which does not call State.__init__ either).
        self._facts = defaultdict(set)
        self._vars_by_name = {}
        self._vars_by_type = defaultdict(set)
        self._var_counts = Counter()
        self._logic = logic
        self.downward_lib = downward_lib
        self.pddl_problem = pddl_problem
        self.task = translation.task
        self.sas = translation.sas
        self.sas_replan = None  # made on the first replan
        self._actions = {a.name: a for a in self.task.actions}
        for type_ in self.task.types:
            try:
                self._logic.types.add(textworld.logic.Type(type_.name, type_.supertype_names))
            except ValueError:
                pass
        self.downward_lib.load_sas(self.sas)
        self.name2type = translation.name2type
        self.add_facts(translation.init_facts)
        atoms = (pddl_logic.Atom * self.downward_lib.get_state_size())()
        self.downward_lib.get_state(atoms)
        facts = [atom.get_fact(self.name2type) for atom in atoms]
        self.add_facts([fact for fact in facts if not fact.is_negation])

    def replan(self, infos: Any) -> list[str]:
        if self.sas_replan is None:
            _, sas_replan = _pddl2sas(self._logic.domain, self.pddl_problem, optimize=True)
            self.sas_replan = sas_replan.encode("utf-8")
            # Loading the replanning task does not move the main search state: replan() still plans
            # from the current state (tests/envs/alfworld: test_policy_commands_plan_from_current_state).
            self.downward_lib.load_sas_replan(self.sas_replan)
        return super().replan(infos)


# ---------------------------------------------------------------------------------------------------


class FastPddlEnv(PddlEnv):
    """``PddlEnv`` + ALFWorld's name demangling, with cached logic, translation and text derivation.

    Args:
        infos: what to include in each ``GameState`` (``won``, ``admissible_commands``, ``moves``,
            ``policy_commands``, ``facts``, ``extras=["walkthrough"]`` are supported).
        demangle: rename entities as ALFWorld does (``countertop 2`` instead of the PDDL id).
    """

    def __init__(self, infos: EnvInfos | None = None, demangle: bool = True) -> None:
        super().__init__(infos)
        self.demangle = demangle

    def load(self, filename_or_data: str | Mapping) -> None:
        if isinstance(filename_or_data, Mapping):
            data, self._game_file = filename_or_data, None
        else:
            with open(filename_or_data) as f:
                data = json.load(f)
            self._game_file = filename_or_data
        self._game_data = data
        self.walkthrough = data.get("walkthrough", None)
        self._logic = game_logic(data["pddl_domain"], data["grammar"])
        self._translation = cached_translation(data["pddl_domain"], data["pddl_problem"])
        self._pddl_state = self._new_state()
        self._entity_infos = self._get_entity_infos()
        if self.demangle:
            names = alfred_names([info.id for info in self._entity_infos.values()])
            for info in self._entity_infos.values():
                info.name = names[info.id]
        self._fresh_state = True

    def _new_state(self) -> _CachedPddlState:
        return _CachedPddlState(self.downward_lib, self._game_data["pddl_problem"], self._logic, self._translation)

    def _context(self, variables: dict, mapping: dict, facts: list) -> dict:
        return {
            "state": self._pddl_state,
            "facts": facts,
            "variables": variables,
            "mapping": mapping,
            "entity_infos": self._entity_infos,
        }

    def _gather_infos(self) -> None:
        self.state["command_templates"] = sorted({action.template for action in self._logic.actions.values()})
        self.state["won"] = self._pddl_state.check_goal()
        self.state["lost"] = False
        self.state["_entity_infos"] = dict(self._entity_infos)
        self.state["_facts"] = list(self._pddl_state.facts)
        if self.request_infos.facts:
            self.state["facts"] = list(map(self._get_human_readable_fact, self.state["_facts"]))
        self.state["last_action"] = None
        self.state["_last_action"] = self._last_action
        self.state["_valid_actions"] = list(self._pddl_state.all_applicable_actions())

        mapping = {k: info.name for k, info in self._entity_infos.items()}
        facts = self.state["_facts"]
        derive = self._logic.fast_grammar.derive
        commands = []
        for action in self.state["_valid_actions"]:
            variables = {ph.name: self._entity_infos[var.name] for ph, var in action.mapping.items()}
            context = self._context(variables, action.mapping, facts)
            action.command_template = derive(action.command_template, context)
            commands.append(action.format_command(mapping))
        self.state["_valid_commands"] = commands
        self.state["admissible_commands"] = sorted(set(commands))
        if self.request_infos.moves:
            self.state["moves"] = self._moves
        if self.request_infos.policy_commands:
            self.state["policy_commands"] = self._pddl_state.replan(self._entity_infos)

    def reset(self) -> GameState:
        # The state built by load() is the initial state: reuse it for the first reset.
        if not self._fresh_state:
            self._pddl_state = self._new_state()
        self._fresh_state = False
        self.prev_state = None
        self.state = GameState()
        self._last_action = None
        self._moves = 0
        context = self._context({}, {}, list(self._pddl_state.facts))
        self.state.feedback = self._logic.fast_grammar.derive("#intro#", context)
        self.state.raw = self.state.feedback
        self._gather_infos()
        if "walkthrough" in self.request_infos.extras:
            self.state["extra.walkthrough"] = self.walkthrough or self._pddl_state.replan(self._entity_infos)
        return self.state

    def step(self, command: str) -> tuple[GameState, int, bool]:
        command = command.strip()
        self.prev_state = self.state
        self._fresh_state = False
        self.state = GameState()
        self.state.last_command = command
        self._last_action = None
        try:
            idx = self.prev_state["_valid_commands"].index(command)
        except ValueError:
            self.state.feedback = "Nothing happens."
        else:
            self._last_action = self.prev_state["_valid_actions"][idx]
            self._pddl_state.apply(self._last_action)
            variables = {ph.name: self._entity_infos[var.name] for ph, var in self._last_action.mapping.items()}
            context = self._context(variables, self._last_action.mapping, list(self._pddl_state.facts))
            self.state.feedback = self._logic.fast_grammar.derive(self._last_action.feedback_rule, context)
            self._moves += 1
        self.state.raw = self.state.feedback
        self._gather_infos()
        if "walkthrough" in self.request_infos.extras:
            self.state["extra.walkthrough"] = self.prev_state["extra.walkthrough"]
        self.state["score"] = 1 if self.state["won"] else 0
        self.state["done"] = self.state["won"] or self.state["lost"]
        return self.state, self.state["score"], self.state["done"]


class TextWorldEngine:
    """:class:`FastPddlEnv` behind the native engine's interface: ``load(game)``, ``reset()`` and
    ``step(command)`` returning ``(feedback, admissible_commands, won, moves)``."""

    def __init__(self) -> None:
        self._env = FastPddlEnv(textworld.EnvInfos(won=True, admissible_commands=True, moves=True))

    def load(self, game: str | Mapping) -> None:
        self._env.load(game)

    @staticmethod
    def _out(state: GameState) -> tuple[str, list[str], bool, int]:
        return state.feedback, list(state["admissible_commands"]), bool(state["won"]), int(state["moves"])

    def reset(self) -> tuple[str, list[str], bool, int]:
        return self._out(self._env.reset())

    def step(self, command: str) -> tuple[str, list[str], bool, int]:
        return self._out(self._env.step(command)[0])

    def close(self) -> None:
        self._env.close()
