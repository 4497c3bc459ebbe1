"""``hgpo/WebShopBrowser-v0``: the WebShop episodes driven in headless Chromium through Selenium.

Same actions, rewards and ``info`` as ``hgpo/WebShop-v0``; only the way pages are reached differs:
the session is opened through the JSON API (``POST /api/sessions``, to pick the goal), then the
browser loads its search page and every action is a real browser action on the server's HTML view:
``search[q]`` types ``q`` into the search box and presses **Search** (from other pages, where upstream
also allows a search, the browser opens the results URL for ``q``, as typing it in the address bar
would); ``click[x]`` clicks the button, product link or option link whose text is ``x``. Observations
and info come from the rendered DOM (:mod:`hgpo_envs.webshop.dom`), not from the JSON view, so the
environment is also an end-to-end test of the site. The done page's score is read from the page;
``info["reward_info"]`` is the one extra JSON request (at the purchase).

Known difference from the text environment: the site refuses a blank query or one whose keyword list
is longer than 1,000 characters, so ``search[...]`` with such a query is an invalid action here, while
the JSON view accepts it.

Needs the ``browser`` extra (Selenium) and Debian's ``chromium`` and ``chromium-driver`` packages
(``/usr/bin/chromium``, ``/usr/bin/chromedriver``; override with ``chromium_path`` /
``chromedriver_path`` or ``$CHROMIUM_PATH`` / ``$CHROMEDRIVER_PATH``).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import tempfile
import time
from typing import Any, ClassVar
from urllib.parse import quote

import numpy as np
from gymnasium import spaces
from gymnasium.error import ResetNeeded

from hgpo_envs.webshop.base import WebShopEpisodes
from hgpo_envs.webshop.client import ServerError, ServerUnavailable, SessionLost
from hgpo_envs.webshop.dom import SNAPSHOT_JS, clickable_map, nodes_to_view
from hgpo_envs.webshop.page import PageView
from hgpo_envs.webshop.spaces import UnicodeText

__all__ = ["CHROMIUM_FLAGS", "WebShopBrowserEnv", "find_chromium"]

#: Flags for a headless Chromium on a machine with no network but loopback (and as root).
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)
BROWSER_MODES = ("rendered", "text", "text_rich", "html")


def find_chromium(chromium_path: str | None = None, chromedriver_path: str | None = None) -> tuple[str, str]:
    """Paths of the Chromium binary and ChromeDriver, or ``FileNotFoundError`` saying what to install."""
    browser = chromium_path or os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
    driver = (
        chromedriver_path or os.environ.get("CHROMEDRIVER_PATH") or shutil.which("chromedriver") or "/usr/bin/chromedriver"
    )
    missing = [p for p in (browser, driver) if not os.path.isfile(p)]
    if missing:
        raise FileNotFoundError(
            f"headless Chromium not found ({', '.join(missing)}); install Debian's packages: "
            "apt-get install -y chromium chromium-driver"
        )
    return browser, driver


class WebShopBrowserEnv(WebShopEpisodes):
    """WebShop in a real (headless) browser. Keyword arguments of :class:`~hgpo_envs.webshop.env.WebShopEnv`
    (``server_url``, ``split``, ``max_episode_steps``, ``server_options``, ``timeout``, ``reconnect``,
    ``reconnect_timeout``, ``startup_timeout``, ``render_mode``), plus:

    Args:
        observation_mode: ``rendered`` (default: the page's text as the browser renders it,
            ``document.body.innerText``), ``text`` / ``text_rich`` (upstream's formats, rebuilt from
            the DOM: identical to ``hgpo/WebShop-v0``'s) or ``html`` (the DOM as HTML).
        screenshot: observations become ``{"text": str, "screenshot": uint8 array (height, width, 3)}``
            (an RGB image of the viewport).
        window_size: browser viewport ``(width, height)`` in CSS pixels.
        page_load_timeout: seconds allowed for one navigation.
        chromium_path, chromedriver_path: binaries (default: found on ``PATH`` or in ``/usr/bin``).

    ``state_key`` hashes the same canonical text as the text environment (``text_rich`` for the
    ``text_rich`` and ``html`` modes, ``text`` otherwise), so both environments give equal keys.
    Browser navigation is not numbered: after a dropped connection the episode is replayed in a new
    session.
    """

    idempotent_steps: ClassVar[bool] = False

    def __init__(
        self,
        server_url: str | None = None,
        *,
        observation_mode: str = "rendered",
        screenshot: bool = False,
        window_size: tuple[int, int] = (1024, 768),
        page_load_timeout: float = 30.0,
        chromium_path: str | None = None,
        chromedriver_path: str | None = None,
        **episode_options: Any,
    ) -> None:
        if observation_mode not in BROWSER_MODES:
            raise ValueError(f"observation_mode must be one of {BROWSER_MODES}, got {observation_mode!r}")
        browser, driver_path = find_chromium(chromium_path, chromedriver_path)
        try:
            from selenium import webdriver
        except ImportError as exc:  # pragma: no cover - depends on the installed extras
            raise ImportError("WebShopBrowser-v0 needs Selenium: pip install 'hgpo[browser]'") from exc
        self._driver: Any = None
        self.page_load_timeout = page_load_timeout
        self._nodes: list[dict[str, Any]] = []
        self._url = self._title = self._rendered = ""
        self._marker = 0
        self._profile = tempfile.mkdtemp(prefix="hgpo-chromium-")
        # the base class validates the text modes; "rendered" is keyed like "text"
        text_mode = "text" if observation_mode == "rendered" else observation_mode
        super().__init__(server_url=server_url, observation_mode=text_mode, **episode_options)
        self._action_re = re.compile(self.protocol["action_pattern"], re.DOTALL)
        self.browser_observation_mode = observation_mode
        self.screenshot = screenshot
        self.window_size = (int(window_size[0]), int(window_size[1]))
        if screenshot:
            w, h = self.window_size
            self.observation_space = spaces.Dict(
                {"text": UnicodeText(max_length=self.observation_space.max_length),
                 "screenshot": spaces.Box(0, 255, shape=(h, w, 3), dtype=np.uint8)}
            )
        try:
            self._driver = self._start_browser(webdriver, browser, driver_path)
        except BaseException:
            self.close()
            raise

    def _start_browser(self, webdriver: Any, browser: str, driver_path: str) -> Any:
        opts = webdriver.ChromeOptions()
        opts.binary_location = browser
        for flag in CHROMIUM_FLAGS:
            opts.add_argument(flag)
        opts.add_argument(f"--user-data-dir={self._profile}")
        opts.add_argument(f"--window-size={self.window_size[0]},{self.window_size[1]}")
        opts.add_argument("--hide-scrollbars")
        opts.page_load_strategy = "eager"  # the snapshot script waits for a complete document itself
        service = webdriver.ChromeService(executable_path=driver_path)
        driver = webdriver.Chrome(options=opts, service=service)
        driver.set_page_load_timeout(self.page_load_timeout)
        driver.set_script_timeout(self.page_load_timeout)
        if self.screenshot:  # make the viewport (not the window) the requested size
            driver.execute_cdp_cmd(
                "Emulation.setDeviceMetricsOverride",
                {"width": self.window_size[0], "height": self.window_size[1], "deviceScaleFactor": 1, "mobile": False},
            )
        return driver

    # ------------------------------------------------------------------ browser helpers
    def _navigate(self, go: Any) -> PageView:
        """Run ``go()`` (a click or a load), wait for the new document, and read it (one script call
        per poll: the snapshot script answers ``null`` until a new, loaded document is there)."""
        from selenium.common.exceptions import WebDriverException

        old = self._marker
        self._marker += 1
        go()
        deadline = time.monotonic() + self.page_load_timeout
        while True:
            try:
                snap = self._driver.execute_script(SNAPSHOT_JS, old, self._marker)
            except WebDriverException:  # the document went away under the script: still navigating
                snap = None
            if snap is not None:
                break
            if time.monotonic() > deadline:
                raise ServerUnavailable(
                    f"the browser did not load a WebShop page from {self.server_url} within {self.page_load_timeout:g} s"
                )
            time.sleep(0.002)
        self._nodes, self._url, self._title = snap["nodes"], snap["url"], snap["title"]
        self._rendered = snap["rendered"]
        return nodes_to_view(self._nodes, self._url)

    def _check_page(self, view: PageView) -> PageView:
        """Turn error pages into the client's exceptions (so lost sessions are recovered as in the
        text environment); fetch ``reward_info`` at the purchase."""
        current = self._url
        if not current.startswith(self.server_url + "/"):
            raise ServerUnavailable(f"the browser could not load a WebShop page from {self.server_url} (at {current[:120]})")
        title = self._title
        if title != "WebShop":
            texts = [n.get("text", "").strip() for n in self._nodes]
            message = " ".join(t for t in texts if t) or title
            if "session" in message and "unknown" in message:
                raise SessionLost(f"WebShop server at {self.server_url} lost session {self._sid!r}: {message}")
            raise ServerError(f"WebShop server at {self.server_url} answered {title!r} at {current[:120]}: {message}", 0)
        if view.done and self._sid is not None:
            view.reward_info = self.client.page(self._sid).get("reward_info")
        return view

    # ------------------------------------------------------------------ backend hooks
    def _begin(self, goal_number: int) -> tuple[PageView, dict[str, Any]]:
        data = self._start_session(goal_number)
        url = f"{self.server_url}/{quote(self._sid, safe='')}"
        view = self._navigate(lambda: self._driver.get(url))
        return self._check_page(view), data["goal"]

    def _act(self, action: str) -> tuple[PageView, bool]:
        if self._view is None or self._sid is None:
            raise ResetNeeded("call reset() before step()")
        m = self._action_re.match(action)
        if m is None:
            return self._view, False
        name, arg = m.group(1), m.group(2).lower()
        if name == "search" and arg:
            box = [n for n in self._nodes if n["kind"] == "search_box"]
            button = [n for n in self._nodes if n["kind"] == "button" and n["text"].strip() == "Search"]
            if not arg.strip() or len(repr(arg.split(" "))) > self.protocol["max_query_chars"]:
                return self._view, False  # the site refuses blank and over-long queries (module notes)
            if box and button and "\n" not in arg:
                self._driver.execute_script("arguments[0].value = arguments[1];", box[0]["el"], arg)
                view = self._navigate(button[0]["el"].click)
            else:
                kw = quote(repr(arg.split(" ")), safe="")
                view = self._navigate(lambda: self._driver.get(f"{self.server_url}/search_results/{quote(self._sid, safe='')}/{kw}/1"))
            return self._check_page(view), True
        if name != "click" or arg == "search":
            return self._view, False
        node = clickable_map(self._nodes).get(arg)
        if node is None:
            return self._view, False
        return self._check_page(self._navigate(node["el"].click)), True

    def _render_observation(self, view: PageView) -> Any:
        mode = self.browser_observation_mode
        if mode == "rendered":
            text = self._rendered
        elif mode == "html":
            text = self._driver.page_source
        else:
            text = view.observation(mode)
        if not self.screenshot:
            return text
        return {"text": text, "screenshot": self.screenshot_array()}

    def screenshot_array(self) -> np.ndarray:
        """The viewport as an RGB image, uint8 of shape ``(height, width, 3)``."""
        from PIL import Image

        png = self._driver.get_screenshot_as_png()
        image = Image.open(io.BytesIO(png)).convert("RGB")
        w, h = self.window_size
        if image.size != (w, h):
            image = image.crop((0, 0, w, h)) if image.size[0] >= w and image.size[1] >= h else image.resize((w, h))
        return np.asarray(image, dtype=np.uint8)

    def close(self) -> None:
        driver, self._driver = getattr(self, "_driver", None), None
        if driver is not None:
            try:
                driver.quit()
            except Exception:  # the browser may already be gone
                pass
        super().close()
        profile = getattr(self, "_profile", None)
        if profile:
            shutil.rmtree(profile, ignore_errors=True)
            self._profile = ""
