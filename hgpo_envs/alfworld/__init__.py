"""ALFWorld text games (``hgpo/ALFWorld-v0``) on our native engine, or on TextWorld's PDDL engine.

Modules: ``env`` (the Gymnasium environment), ``native`` (the native engine: ``pddl`` reads and grounds the
domain and problems, ``grammar`` reads and derives the ``.twl2`` text, ``names`` names the entities),
``expert`` (shortest plans from any state), ``engine`` (the cached TextWorld engine, ``textworld`` extra)
and ``textgen`` (its text derivation), ``transcripts`` (play protocols to compare engines), ``gameset``
(packed and upstream game sets), ``sources`` (which games an environment plays), ``generator`` and
``vocabulary`` (offline procedural games), ``download`` (upstream release assets), ``logic`` (domain and
grammar), ``tasks`` (task types and splits), ``cli`` (``hgpo alfworld``). Importing this package imports
none of them.
"""
