"""Servers the environments talk to: the local WebShop web server."""
