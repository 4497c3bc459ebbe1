"""The local WebShop server: upstream WebShop's site, search, goals and reward, without Java or spaCy.

Modules: :mod:`.catalog` (products), :mod:`.synthetic` (seeded catalogue generator), :mod:`.analysis`
and :mod:`.porter` (Lucene's English analyzer), :mod:`.search` (Lucene-compatible BM25),
:mod:`.goals`, :mod:`.reward`, :mod:`.pages` (page model and its views), :mod:`.urls`,
:mod:`.sessions`, :mod:`.shop` (engine), :mod:`.app` (Flask app factory: errors, security headers),
:mod:`.site` (the HTML site blueprint), :mod:`.api` (the JSON API blueprint, protocol constants),
:mod:`.web` (request checks and responses both share), :mod:`.loader`, :mod:`.serve` (waitress, bounded
connections), :mod:`.cli` (``hgpo webshop`` and ``python -m servers.webshop``).

Importing this package imports nothing heavy.
"""
