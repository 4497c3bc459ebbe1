"""WebShop as Gymnasium environments over the local WebShop server (HTTP only).

- ``hgpo/WebShop-v0`` (:class:`~hgpo_envs.webshop.env.WebShopEnv`): the text environment, over the
  server's JSON view;
- ``hgpo/WebShopBrowser-v0`` (:class:`~hgpo_envs.webshop.browser.WebShopBrowserEnv`): the same
  episodes driven in headless Chromium through Selenium.

Modules: ``client`` (keep-alive JSON client), ``embedded`` (``EmbeddedServer``, the one launcher of server
processes, and the shared embedded server),
``page`` (page views, URL state, state keys, admissible commands), ``expert`` (scripted oracle),
``spaces`` (Unicode text spaces), ``base`` (episode logic), ``env`` and ``browser`` (the two backends),
``dom`` (reading pages out of the browser).
Nothing here imports the server package.
"""
