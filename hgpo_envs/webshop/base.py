"""Episode logic shared by ``hgpo/WebShop-v0`` and ``hgpo/WebShopBrowser-v0``.

:class:`WebShopEpisodes` owns the server connection (embedded or by URL), the protocol constants it
reads from the server (``GET /api/info``), the goal splits, the choice of goal at reset, the step
counter, the reward/termination rules, the one reconnect path and the ``info`` dict. A subclass
supplies the way pages are driven: :meth:`_begin` (open a session's search page), :meth:`_act` (apply
one action) and :meth:`_render_observation`.

The environment owns its server sessions: its client sends a secret token with every request, and
the session id is chosen here, so a reset restarts the same session (``"reset": true``) and nobody
else can step, restart or close it.
"""

from __future__ import annotations

import copy
import numbers
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import gymnasium as gym

from hgpo_envs.webshop import embedded
from hgpo_envs.webshop.client import ServerError, ServerUnavailable, SessionLost, WebShopClient, WebShopError
from hgpo_envs.webshop.expert import Oracle
from hgpo_envs.webshop.page import PageView, admissible_commands, page_state_key
from hgpo_envs.webshop.spaces import UnicodeText

__all__ = ["MAX_OBSERVATION_CHARS", "OBSERVATION_MODES", "PROTOCOL_VERSION", "SPLITS", "WebShopEpisodes"]

OBSERVATION_MODES = ("text", "text_rich", "html")
SPLITS = ("train", "test", "all")
#: The server protocol this client speaks (``GET /api/info`` → ``protocol.version``).
PROTOCOL_VERSION = 2
#: Longest observation the space accepts (characters); item pages with long descriptions stay far below.
MAX_OBSERVATION_CHARS = 1 << 20
T = TypeVar("T")


class WebShopEpisodes(gym.Env[str, str]):
    """Base class: see :class:`hgpo_envs.webshop.env.WebShopEnv` for the arguments and ``info`` keys."""

    metadata: ClassVar[dict[str, Any]] = {
        "render_modes": ["ansi", "human"],
        "render_fps": 4,
        # the prompt that wrappers.MemoryWindow renders for this environment (a TOML file, user-replaceable)
        "prompt_template": str(Path(__file__).with_name("prompt.toml")),
    }
    #: Whether :meth:`_act` may be sent again after a lost answer (numbered JSON-API steps: yes).
    idempotent_steps: ClassVar[bool] = True

    def __init__(
        self,
        server_url: str | None = None,
        split: str = "train",
        observation_mode: str = "text",
        max_episode_steps: int | None = None,
        server_options: dict[str, Any] | None = None,
        timeout: float = 30.0,
        reconnect: bool = True,
        reconnect_timeout: float = 10.0,
        startup_timeout: float = 120.0,
        render_mode: str | None = None,
    ) -> None:
        self._check_arguments(split, observation_mode, max_episode_steps, render_mode, server_url, server_options)
        if reconnect_timeout < 0:
            raise ValueError(f"reconnect_timeout must be >= 0, got {reconnect_timeout}")
        self.split = split
        self.observation_mode = observation_mode
        self.max_episode_steps = max_episode_steps
        self.render_mode = render_mode
        self.reconnect = reconnect
        self.reconnect_timeout = float(reconnect_timeout)
        self.observation_space = UnicodeText(max_length=MAX_OBSERVATION_CHARS)

        self._embedded: embedded.EmbeddedServer | None = None
        self._client: WebShopClient | None = None
        self._sid: str | None = None
        self._server_step = 0  # numbered steps taken in the current server session
        self._goal: dict[str, Any] = {}
        self._goal_index = -1
        self._view: PageView | None = None
        self._observation = ""
        self._oracle: Oracle | None = None
        self._history: list[str] = []
        self._elapsed = 0
        if server_url is None:
            self._embedded = embedded.acquire(server_options, startup_timeout=startup_timeout)
            server_url = self._embedded.url
        try:
            self._client = WebShopClient(server_url, timeout=timeout, token=secrets.token_urlsafe(24))
            self._client.wait_ready(self.reconnect_timeout, process_alive=self._server_alive)
            self.protocol = self._read_protocol(self._client.info())
            splits = self._client.goals()
        except BaseException:
            self.close()
            raise
        self.action_space = UnicodeText(max_length=int(self.protocol["max_action_chars"]))
        count = int(splits["count"])
        lo, hi = (0, count) if split == "all" else splits["splits"][split]
        self._goal_range = range(int(lo), int(hi))
        self.server_url = self._client.url

    def _check_arguments(
        self,
        split: str,
        observation_mode: str,
        max_episode_steps: int | None,
        render_mode: str | None,
        server_url: str | None,
        server_options: dict[str, Any] | None,
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        if observation_mode not in OBSERVATION_MODES:
            raise ValueError(f"observation_mode must be one of {OBSERVATION_MODES}, got {observation_mode!r}")
        if max_episode_steps is not None and max_episode_steps < 1:
            raise ValueError(f"max_episode_steps must be >= 1, got {max_episode_steps}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"unknown render_mode {render_mode!r}; known: {self.metadata['render_modes']}")
        if server_url is not None and server_options:
            raise ValueError("server_options configure the embedded server; they cannot apply to server_url")

    def _read_protocol(self, info: dict[str, Any]) -> dict[str, Any]:
        protocol = info.get("protocol") if isinstance(info, dict) else None
        if not isinstance(protocol, dict) or protocol.get("version") != PROTOCOL_VERSION:
            found = protocol.get("version") if isinstance(protocol, dict) else None
            raise WebShopError(
                f"the WebShop server at {self._client.url if self._client else '?'} speaks protocol {found!r}, "
                f"this environment protocol {PROTOCOL_VERSION}: run the server of this hgpo version"
            )
        return protocol

    # ------------------------------------------------------------------ properties
    @property
    def num_goals(self) -> int:
        """Number of goals in the split (``reset(options={"goal_index": i})`` takes ``0 <= i < num_goals``)."""
        return len(self._goal_range)

    @property
    def session_id(self) -> str | None:
        """The server session of the current episode."""
        return self._sid

    def goal_number(self, goal_index: int) -> int:
        """The server's goal number of split goal ``goal_index``."""
        return self._goal_range[goal_index]

    def _server_alive(self) -> bool:
        return self._embedded is None or self._embedded.alive()

    @property
    def client(self) -> WebShopClient:
        return self._require_open()

    def _require_open(self) -> WebShopClient:
        if self._client is None:
            raise gym.error.ClosedEnvironmentError("this WebShop environment is closed; make a new one")
        return self._client

    # ------------------------------------------------------------------ backend hooks
    def _begin(self, goal_number: int) -> tuple[PageView, dict[str, Any]]:
        """Start a session on ``goal_number``; returns its search page and the goal record."""
        raise NotImplementedError

    def _act(self, action: str) -> tuple[PageView, bool]:
        """Apply ``action`` in the current session; returns the new page and whether it was valid."""
        raise NotImplementedError

    def _render_observation(self, view: PageView) -> Any:
        """The observation of ``view`` in ``self.observation_mode``."""
        raise NotImplementedError

    def _start_session(self, goal_number: int) -> dict[str, Any]:
        """(Re)start this environment's own server session on ``goal_number``: its page JSON and goal.
        Safe to send twice (a restart of the same session)."""
        if self._sid is None:
            self._sid = f"env-{secrets.token_hex(12)}"
        data = self.client.start(goal_number, session_id=self._sid, reset=True)
        self._server_step = 0
        return data

    # ------------------------------------------------------------------ recovery (the one path)
    def _with_recovery(self, fn: Callable[[], T]) -> tuple[T, bool]:
        """``(fn(), reconnected)``: after a lost connection, server or session, :meth:`_reconnect`, then
        ``fn()`` once more."""
        try:
            return fn(), False
        except (ServerUnavailable, SessionLost) as exc:
            self._reconnect(exc)
            return fn(), True

    def _reconnect(self, exc: WebShopError) -> None:
        """Wait for the server; keep the session if it is intact (numbered steps are safe to resend),
        else open a new session on the same goal and replay this episode's valid actions (pages are
        deterministic). Raises :class:`ServerUnavailable` saying why when that cannot be done."""
        if not self.reconnect:
            raise exc
        if not self._server_alive():
            raise ServerUnavailable(self._dead_server_message()) from exc
        try:
            self.client.wait_ready(self.reconnect_timeout, process_alive=self._server_alive)
        except ServerUnavailable as again:
            raise ServerUnavailable(
                f"{exc} (and no answer within reconnect_timeout={self.reconnect_timeout:g} s: {again})"
            ) from exc
        if isinstance(exc, ServerUnavailable) and self._session_intact():
            return
        self._sid = None
        if not self._goal:  # the episode had not begun: the caller's retry begins it
            return
        goal = self._goal
        view, record = self._begin(self.goal_number(self._goal_index))
        if record.get("asin") != goal.get("asin") or record.get("instruction_text") != goal.get("instruction_text"):
            raise WebShopError(
                f"the WebShop server at {self.server_url} came back with a different goal "
                f"{self._goal_index} (another catalogue?): cannot resume the episode"
            ) from exc
        for action in self._history:
            view, valid = self._act(action)
            if not valid:
                raise WebShopError(f"replaying {action!r} after a reconnect was not valid: cannot resume") from exc
        self._view = view

    def _session_intact(self) -> bool:
        if not self.idempotent_steps or self._sid is None:
            return False
        try:
            step = self.client.page(self._sid).get("step")
        except (ServerError, SessionLost, ServerUnavailable):
            return False
        return step in (self._server_step, self._server_step + 1)

    def _dead_server_message(self) -> str:
        server = self._embedded
        if server is None:
            return f"the WebShop server at {self.server_url} is gone"
        return f"the embedded WebShop server ({server.url}) exited with status {server.proc.returncode}:\n{server.tail()}"

    # ------------------------------------------------------------------ gym API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        super().reset(seed=seed)
        self._require_open()
        index = self._goal_from(options)
        self._goal_index, self._goal, self._history, self._elapsed = index, {}, [], 0
        self._view = None
        (view, record), reconnected = self._with_recovery(lambda: self._begin(self.goal_number(index)))
        self._goal = record
        self._oracle = Oracle(record)
        self._view = view
        self._observation = self._render_observation(view)
        return self._observation, self._info(view, True, reconnected)

    def _goal_from(self, options: Any) -> int:
        if options is None:
            options = {}
        if not isinstance(options, Mapping):
            raise TypeError(f"reset options must be a dict such as {{'goal_index': 3}}, got {type(options).__name__}")
        unknown = set(options) - {"goal_index"}
        if unknown:
            raise ValueError(f"unknown reset option(s) {sorted(map(str, unknown))}; known: ['goal_index']")
        index = options.get("goal_index")
        if index is not None:
            if isinstance(index, bool) or not isinstance(index, numbers.Integral) or not 0 <= index < self.num_goals:
                raise ValueError(f"goal_index must be an int in [0, {self.num_goals}), got {index!r}")
            return int(index)
        if self.num_goals == 0:
            raise ValueError(f"the {self.split} split of the WebShop server at {self.server_url} has no goal")
        return int(self.np_random.integers(self.num_goals))

    def _action_problem(self, action: str) -> str | None:
        """Why ``action`` is outside the action space (it is then an invalid action, never sent), or None."""
        if self.action_space.contains(action):
            return None
        if len(action) > self.action_space.max_length:
            return f"it is longer than {self.action_space.max_length} characters"
        return "it is not valid Unicode text (a lone surrogate)"

    def step(self, action: str) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        self._require_open()
        if self._view is None:
            raise gym.error.ResetNeeded("call reset() before step()")
        if self._view.done:
            raise gym.error.ResetNeeded("the episode ended with a purchase; call reset()")
        if not isinstance(action, str):
            raise TypeError(f"a WebShop action is a str such as 'search[red dress]', got {type(action).__name__}")
        action = str(action)
        problem = self._action_problem(action)
        if problem is not None:
            view, valid, reconnected = self._view, False, False
        else:
            (view, valid), reconnected = self._with_recovery(lambda: self._act(action))
        self._elapsed += 1
        if valid:
            self._history.append(action)
        if view is not self._view:
            self._observation = self._render_observation(view)
        self._view = view
        terminated = bool(view.done and valid)
        reward = float(view.reward) if terminated else 0.0
        truncated = not terminated and self.max_episode_steps is not None and self._elapsed >= self.max_episode_steps
        info = self._info(view, valid, reconnected)
        if not valid:
            why = problem or "it is not search[...] or click[...] of an element on this page"
            info["feedback"] = f"Invalid action {action[:80]!r}: {why}; nothing changed."
        return self._observation, reward, terminated, truncated, info

    def _info(self, view: PageView, valid: bool, reconnected: bool) -> dict[str, Any]:
        oracle = self._oracle or Oracle(self._goal)
        instruction = self._goal["instruction_text"]
        score = float(view.reward) if view.done else 0.0
        info: dict[str, Any] = {
            "available_actions": {"has_search_bar": view.has_search_bar, "clickables": list(view.clickables)},
            "admissible_commands": admissible_commands(view, instruction),
            "won": bool(view.done and score >= 1.0),
            "task_score": score,
            "goal": {"instruction": instruction, **copy.deepcopy(self._goal)},
            "goal_index": self._goal_index,
            "task": instruction,
            "state_key": page_state_key(view, self.observation_mode),
            "is_action_valid": valid,
            "expert_action": oracle.next_action(view),
            "page": view.kind,
            "session_id": self._sid,
            "reconnected": reconnected,
        }
        if view.done and view.reward_info is not None:
            info["reward_info"] = dict(view.reward_info)
        return info

    def render(self) -> str | None:
        if self.render_mode == "ansi":
            return self._observation
        if self.render_mode == "human":
            print(self._observation)
        return None

    def close(self) -> None:
        if self._client is not None:
            if self._sid is not None:
                self._client.end(self._sid)
            self._client.close()
            self._client = None
        self._sid = None
        self._view = None
        if self._embedded is not None:
            server, self._embedded = self._embedded, None
            embedded.release(server)
        super().close()
