"""Gymnasium wrappers (memory window, state keys, action parsing, step recording) and group rollouts."""
