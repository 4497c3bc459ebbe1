"""ALFWorld text games (``hgpo/ALFWorld-v0``) on TextWorld's PDDL engine.

Modules: ``env`` (the Gymnasium environment), ``engine`` (the cached PDDL engine) and ``textgen`` (its text
derivation), ``gameset`` (packed and upstream game sets), ``sources`` (which games an environment plays),
``generator`` and ``vocabulary`` (offline procedural games), ``download`` (upstream release assets),
``logic`` (domain and grammar), ``tasks`` (task types and splits), ``cli`` (``hgpo alfworld``).
Importing this package imports none of them.
"""
