"""The HTML site: upstream WebShop's pages and URL scheme (a Flask blueprint).

Sessions here are identified by their id alone, as upstream's are: the id is in every URL a browser
follows. A new id on ``/<sid>`` starts a session. Once a session has bought, its pages answer 409,
except a reload of the purchase's own ``/done`` URL, which shows the done page again.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Response, redirect, request

from . import urls
from .pages import Page
from .sessions import Session
from .urls import BadRequest, check_text
from .web import asin_arg, render, shop, sid_arg

__all__ = ["site"]

site = Blueprint("site", __name__)
_METHODS = ["GET", "POST"]


def _locked(sid: str, create: bool, fn: Callable[[Session], Page]) -> Page:
    s = shop().session(sid_arg(sid), create=create)
    with s.lock:
        return fn(s)


@site.get("/favicon.ico")
@site.get("/robots.txt")
def no_asset() -> Response:
    return Response(status=204)


@site.get("/")
def root() -> Response:
    s = shop().new_session()
    return redirect(urls.search_url(s.sid), code=302)


@site.route("/<sid>", methods=_METHODS)
def index(sid: str) -> Response:
    query = request.form.get("search_query") if request.method == "POST" else None
    if query is None:
        return render(_locked(sid, True, shop().visit_search))
    check_text(query, "the search query")
    if len(query) > urls.MAX_KEYWORDS_CHARS:
        raise BadRequest(f"query too long (more than {urls.MAX_KEYWORDS_CHARS} characters)")
    if not query.strip():
        raise BadRequest("empty search query")
    s = shop().session(sid_arg(sid), create=True)
    shop().check_open(s)
    return redirect(urls.results_url(s.sid, query.lower().split(" "), 1), code=303)


@site.route("/search_results/<sid>/<path:keywords>/<page>", methods=_METHODS)
def search_results(sid: str, keywords: str, page: str) -> Response:
    kw, p = urls.parse_keywords(keywords), urls.parse_page(page)
    return render(_locked(sid, False, lambda s: shop().visit_results(s, kw, p)))


@site.route("/item_page/<sid>/<asin>/<path:keywords>/<page>/<options>", methods=_METHODS)
def item_page(sid: str, asin: str, keywords: str, page: str, options: str) -> Response:
    kw, p, opts = urls.parse_keywords(keywords), urls.parse_page(page), urls.parse_options(options)
    a = asin_arg(asin)
    return render(_locked(sid, False, lambda s: shop().visit_item(s, a, kw, p, opts)))


@site.route("/item_sub_page/<sid>/<asin>/<path:keywords>/<page>/<sub_page>/<options>", methods=_METHODS)
def item_sub_page(sid: str, asin: str, keywords: str, page: str, sub_page: str, options: str) -> Response:
    kw, p, opts = urls.parse_keywords(keywords), urls.parse_page(page), urls.parse_options(options)
    a = asin_arg(asin)
    check_text(sub_page, "the sub page")
    return render(_locked(sid, False, lambda s: shop().visit_sub(s, a, kw, p, sub_page, opts)))


@site.route("/done/<sid>/<asin>/<options>", methods=_METHODS)
def done(sid: str, asin: str, options: str) -> Response:
    opts = urls.parse_options(options)
    a = asin_arg(asin)
    return render(_locked(sid, False, lambda s: shop().buy(s, a, opts)))
