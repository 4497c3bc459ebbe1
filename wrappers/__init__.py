"""Gymnasium wrappers (memory window, state keys, action parsing, step recording) and group rollouts.

The wrappers turn any Gymnasium text environment into a stream of step records that ``hgpo_algo``
consumes: ``StepRecorder(ActionParser(MemoryWindow(StateKey(env))))``, or ``collect_groups`` for whole
batches of group rollouts on one machine or on Ray.
"""

from wrappers.action_parser import ActionParser, ParsedAction, parse_action
from wrappers.decision import Decision
from wrappers.memories import ActionWindow, FullHistory, Memory, MemoryEntry, ObservationWindow
from wrappers.memory import MemoryWindow
from wrappers.recorder import EpisodeRecorder, StepRecorder
from wrappers.rollout import collect_groups, task_seeds
from wrappers.sinks import JsonlSink, ListSink, ParquetSink
from wrappers.state_key import StateKey, text_state_key
from wrappers.templates import PromptTemplate, load_template

__all__ = [
    "ActionParser",
    "ActionWindow",
    "Decision",
    "EpisodeRecorder",
    "FullHistory",
    "JsonlSink",
    "ListSink",
    "Memory",
    "MemoryEntry",
    "MemoryWindow",
    "ObservationWindow",
    "ParquetSink",
    "ParsedAction",
    "PromptTemplate",
    "StateKey",
    "StepRecorder",
    "collect_groups",
    "load_template",
    "parse_action",
    "task_seeds",
    "text_state_key",
]
