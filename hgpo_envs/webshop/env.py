"""``hgpo/WebShop-v0``: the WebShop text environment over the local server's JSON API."""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from hgpo_envs.webshop.base import WebShopEpisodes
from hgpo_envs.webshop.page import PageView

__all__ = ["WebShopEnv"]


class WebShopEnv(WebShopEpisodes):
    """WebShop shopping tasks as text: observation = the page, action = ``search[query]`` or ``click[element]``.

    Each step is one keep-alive HTTP request to the server's JSON view (``POST
    /api/sessions/<sid>/step``, numbered, so a step whose answer was lost is resent safely); no HTML
    is parsed. An action outside ``action_space`` (longer than the server's limit, or not valid
    Unicode) is an invalid action that is never sent. Upstream's text-environment semantics hold: a search
    works from any page, a click must name one of the page's clickables, anything else is a no-op.

    Args:
        server_url: a running server (``http://HOST:PORT``, e.g. ``hgpo webshop serve`` or the Docker
            image); many environments and processes can share it. ``None`` (default): start an embedded
            server on a free loopback port, shared by every environment of this process with the same
            ``server_options`` and stopped when the last one closes (and at interpreter exit).
        split: ``train`` (goals [500, n)), ``test`` (goals [0, 500): the canonical evaluation set) or
            ``all``.
        observation_mode: ``text`` (visible text joined by ``" [SEP] "``, upstream's format, with the
            instruction), ``text_rich`` (one line per element, ``[button] ... [button_]`` marks, chosen
            options and visited products shown) or ``html`` (the page's HTML view; one more request).
        max_episode_steps: truncate after this many steps inside the env (``None``: leave it to the
            ``TimeLimit`` that ``gym.make`` adds, 15 by default, as in the GiGPO/HGPO WebShop setups).
        server_options: options of the embedded server (keys of ``hgpo webshop serve`` with underscores:
            ``catalog``, ``instructions``, ``human_goals``, ``goals``, ``title_nouns``, ``port``, ...).
        timeout: seconds allowed for each HTTP request (connect and each read).
        reconnect: after a dropped connection, go on in the same session when it is intact; after a
            lost session (server restarted, session expired), open a new session on the same goal and
            replay the episode's valid actions, then go on (``info["reconnected"]`` is ``True`` on that
            step, ``info["session_id"]`` the new id).
            ``False``: raise :class:`~hgpo_envs.webshop.client.WebShopError` at once.
        reconnect_timeout: seconds to wait for the server to answer again before raising
            :class:`~hgpo_envs.webshop.client.ServerUnavailable` (also the wait for a ``server_url``
            that is not up yet at construction).
        startup_timeout: seconds allowed for the embedded server to start (a first start on a large
            catalogue builds its search index).
        render_mode: ``"ansi"`` (``render()`` returns the observation) or ``"human"`` (prints it).

    Reward: the WebShop score R in [0, 1] on the step that buys (``click[buy now]``), else 0;
    ``terminated`` on that step. ``reset(seed=s)`` picks split goal ``np_random.integers(num_goals)``
    (uniform, as verl-agent draws goals), the same for the same seed; ``reset(options={"goal_index": i})``
    plays split goal ``i``.

    ``info`` keys: ``available_actions`` (``{"has_search_bar", "clickables"}``), ``admissible_commands``
    (full action strings valid now), ``won`` (R == 1), ``task_score`` (R on the done page, else 0),
    ``goal`` (``instruction`` and the goal record: ``asin``, ``name``, ``attributes``, ``goal_options``,
    ``price_upper``, ``category``, ``query``, ``product_category``, ``weight``), ``goal_index`` (in the
    split), ``task`` (the instruction), ``state_key`` (BLAKE2b-128 hex of the canonical page text: same
    page, same key in every process; never includes the session id), ``is_action_valid``,
    ``expert_action`` (the scripted oracle's next action, see :mod:`hgpo_envs.webshop.expert`;
    ``None`` once done), ``page`` (search | results | item | item_sub | done), ``session_id``,
    ``reconnected``, ``reward_info`` (done page), ``feedback`` (invalid actions: what went wrong).
    """

    def _begin(self, goal_number: int) -> tuple[PageView, dict[str, Any]]:
        data = self._start_session(goal_number)
        return PageView.from_json(data), data["goal"]

    def _act(self, action: str) -> tuple[PageView, bool]:
        if self._sid is None:
            raise gym.error.ResetNeeded("call reset() before step()")
        data = self.client.step(self._sid, action, number=self._server_step + 1)
        self._server_step = int(data["step"])
        return PageView.from_json(data), bool(data["valid"])

    def _render_observation(self, view: PageView) -> str:
        if self.observation_mode == "html":
            return self.client.html(view.url)
        return view.observation(self.observation_mode)
