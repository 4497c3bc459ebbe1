"""Gymnasium text environments: ``hgpo/ALFWorld-v0`` and ``hgpo/WebShop-v0``."""

try:
    from gymnasium.envs.registration import register, registry
except ImportError:  # gymnasium comes with the envs/alfworld/webshop extras
    register = registry = None

# Registration only: the environment modules (and TextWorld) are imported by gym.make.
if register is not None and "hgpo/ALFWorld-v0" not in registry:
    register(id="hgpo/ALFWorld-v0", entry_point="hgpo_envs.alfworld.env:ALFWorldEnv", max_episode_steps=50)
if register is not None and "hgpo/WebShop-v0" not in registry:
    register(id="hgpo/WebShop-v0", entry_point="hgpo_envs.webshop.env:WebShopEnv", max_episode_steps=15)
if register is not None and "hgpo/WebShopBrowser-v0" not in registry:
    register(id="hgpo/WebShopBrowser-v0", entry_point="hgpo_envs.webshop.browser:WebShopBrowserEnv", max_episode_steps=15)
