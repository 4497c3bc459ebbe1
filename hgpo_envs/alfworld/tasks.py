"""ALFWorld's task types, split names and task sentences."""

from __future__ import annotations

__all__ = ["SPLITS", "SPLIT_FOLDERS", "TASK_TEMPLATES", "TASK_TYPES", "check_task_types"]

#: ALFWorld's six task types, in ALFWorld's order (ids 1-6).
TASK_TYPES: tuple[str, ...] = (
    "pick_and_place_simple",
    "look_at_obj_in_light",
    "pick_clean_then_place_in_recep",
    "pick_heat_then_place_in_recep",
    "pick_cool_then_place_in_recep",
    "pick_two_obj_and_place",
)

#: Our split names -> the upstream folder under ``json_2.1.1/`` (``None``: generated games).
SPLIT_FOLDERS: dict[str, str | None] = {
    "train": "train",
    "eval_in_distribution": "valid_seen",
    "eval_out_of_distribution": "valid_unseen",
    "valid_train": "valid_train",
    "generated": None,
}
#: Accepted ``split`` values: ours plus the upstream folder names as aliases.
SPLITS: tuple[str, ...] = (*SPLIT_FOLDERS, "valid_seen", "valid_unseen")

#: The two task sentences of each type (``{obj}``/``{recep}``: lower-case ALFRED class names).
TASK_TEMPLATES: dict[str, tuple[str, str]] = {
    "pick_and_place_simple": ("put some {obj} on {recep}", "put a {obj} in {recep}"),
    "look_at_obj_in_light": ("look at {obj} under the {recep}", "examine the {obj} with the {recep}"),
    "pick_clean_then_place_in_recep": ("put a clean {obj} in {recep}", "clean some {obj} and put it in {recep}"),
    "pick_heat_then_place_in_recep": ("put a hot {obj} in {recep}", "heat some {obj} and put it in {recep}"),
    "pick_cool_then_place_in_recep": ("put a cool {obj} in {recep}", "cool some {obj} and put it in {recep}"),
    "pick_two_obj_and_place": ("put two {obj} in {recep}", "find two {obj} and put them in {recep}"),
}


def check_task_types(task_types: list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """Validate a task-type filter; ``None`` means all six. Raises ``ValueError`` naming the bad type."""
    if task_types is None:
        return TASK_TYPES
    if isinstance(task_types, str):
        task_types = [task_types]
    unknown = [t for t in task_types if t not in TASK_TYPES]
    if unknown:
        raise ValueError(f"unknown task type(s) {', '.join(map(repr, unknown))}; known: {', '.join(TASK_TYPES)}")
    if not task_types:
        raise ValueError("task_types is empty")
    return tuple(dict.fromkeys(task_types))
