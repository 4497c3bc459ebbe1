"""Fixtures of the ``hgpo_algo`` tests. The hypothesis profiles (``ci`` by default, ``long`` with
``HYPOTHESIS_PROFILE=long`` for the fuzz tests' on-demand run) are set in ``tests/conftest.py``."""
