"""Hypothesis profile ``long`` for the fuzz tests of ``hgpo advantages`` (``HYPOTHESIS_PROFILE=long``).

The suite's default profile (``ci``, bounded examples) is loaded by ``tests/conftest.py``; setting
``HYPOTHESIS_PROFILE=long`` runs the property tests with many more examples, on demand.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("long", max_examples=5000, deadline=None)
if os.environ.get("HYPOTHESIS_PROFILE"):
    settings.load_profile(os.environ["HYPOTHESIS_PROFILE"])
