"""Gymnasium text environments: ``hgpo/ALFWorld-v0`` and ``hgpo/WebShop-v0``."""
