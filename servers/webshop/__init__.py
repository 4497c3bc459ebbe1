"""The local WebShop server: upstream WebShop's site, search, goals and reward, without Java or spaCy.

Modules: :mod:`.catalog` (products), :mod:`.synthetic` (seeded catalogue generator), :mod:`.analysis`
and :mod:`.porter` (Lucene's English analyzer), :mod:`.search` (Lucene-compatible BM25),
:mod:`.goals`, :mod:`.reward`, :mod:`.pages` (page model and its views), :mod:`.urls`,
:mod:`.sessions`, :mod:`.shop` (engine), :mod:`.app` (Flask app and JSON API), :mod:`.loader`,
:mod:`.serve` (waitress), :mod:`.cli` (``hgpo webshop``).

Importing this package imports nothing heavy.
"""
