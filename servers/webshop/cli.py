"""``hgpo webshop`` (or ``python -m servers.webshop``): serve the local WebShop, generate synthetic
catalogues, prebuild search indexes.

    hgpo webshop serve [--host 127.0.0.1] [--port 3000] [--catalog PATH] [--instructions PATH]
                       [--human-goals PATH] [--goals synthetic|human] [--title-nouns PATH]
                       [--index-dir DIR] [--workers N] ...
    hgpo webshop generate --products N --out PATH [--seed S] [--workers N]
    hgpo webshop index --catalog PATH [--index-dir DIR] [--workers N]

With no ``--catalog`` the server uses a seeded synthetic catalogue (``--synthetic-products``, 1,000 by
default), so it runs on a fresh machine with no data.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

DEFAULT_REQUEST_TIMEOUT = 10.0
DEFAULT_IDLE_TIMEOUT = 60.0
HELP = "local WebShop server: serve, generate synthetic catalogues, prebuild search indexes"


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line on stderr and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def _positive(kind: type = int) -> Callable[[str], Any]:
    """An argparse ``type`` accepting positive numbers of ``kind``."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
        return value

    return parse


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range 0-65535: {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="hgpo webshop", description=HELP)
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    env = os.environ.get
    s = sub.add_parser(
        "serve", help="run the WebShop server (waitress)",
        epilog="Defaults come from WEBSHOP_HOST, WEBSHOP_PORT, WEBSHOP_WORKERS, WEBSHOP_CATALOG, "
        "WEBSHOP_INSTRUCTIONS, WEBSHOP_HUMAN_GOALS and WEBSHOP_TITLE_NOUNS when set; flags win.",
    )
    s.add_argument("--host", default=env("WEBSHOP_HOST", "127.0.0.1"), help="interface to listen on (default 127.0.0.1)")
    s.add_argument("--port", type=_port, default=env("WEBSHOP_PORT", "3000"), help="TCP port (default 3000; 0 = any free port)")
    s.add_argument("--catalog", default=env("WEBSHOP_CATALOG"), help="documents.jsonl or raw items_shuffle*.json (default: synthetic)")
    s.add_argument("--instructions", default=env("WEBSHOP_INSTRUCTIONS"), help="items_ins_v2*.json: attributes, synthetic instructions")
    s.add_argument("--human-goals", default=env("WEBSHOP_HUMAN_GOALS"), help="items_human_ins.json: human instructions")
    s.add_argument("--goals", choices=("synthetic", "human"), default="synthetic", help="goal set (default synthetic)")
    s.add_argument("--title-nouns", default=env("WEBSHOP_TITLE_NOUNS"), help="precomputed title nouns ({'nouns': {ASIN: [...]}}) for the type reward")
    s.add_argument("--index-dir", help="where the search index is cached (default: ~/.cache/hgpo/webshop/...)")
    s.add_argument("--workers", type=_positive(), default=env("WEBSHOP_WORKERS", "8"), help="request threads (default 8)")
    s.add_argument(
        "--max-connections", type=_positive(), default=env("WEBSHOP_MAX_CONNECTIONS", "1024"),
        help="open keep-alive connections served at once, one per environment client (default 1024)",
    )
    s.add_argument("--index-workers", type=_positive(), default=1, help="processes for a first index build")
    s.add_argument("--synthetic-products", type=_positive(), default=1000, help="size of the default catalogue")
    s.add_argument("--synthetic-seed", type=int, default=0, help="seed of the default catalogue")
    s.add_argument("--seed", type=int, default=None, help="seed for goals drawn for new sessions")
    s.add_argument("--session-ttl", type=_positive(float), default=3600.0, help="idle session expiry, seconds")
    s.add_argument("--max-sessions", type=_positive(), default=50_000, help="live sessions kept at most")
    s.add_argument(
        "--session-idle", type=_positive(float), default=60.0,
        help="when --max-sessions are live, a new session may evict one unused for this many seconds (default 60)",
    )
    s.add_argument(
        "--request-timeout", type=_positive(float), default=DEFAULT_REQUEST_TIMEOUT,
        help="seconds a connection may take to send a complete request (slow clients are closed; default 10)",
    )
    s.add_argument(
        "--idle-timeout", type=_positive(float), default=DEFAULT_IDLE_TIMEOUT,
        help="seconds a keep-alive connection may stay idle (default 60; sooner when connections run short)",
    )
    s.add_argument("--exit-on-stdin-eof", action="store_true", help="exit when standard input closes (for a parent process)")
    s.add_argument("--show-attrs", action="store_true", help="show the Attributes tab (upstream --attrs)")
    s.add_argument(
        "--options-mode", choices=("upstream", "values"), default="upstream",
        help="option reward: upstream quirk (default) or goal option values only",
    )

    g = sub.add_parser("generate", help="write a synthetic catalogue as documents.jsonl")
    g.add_argument("--products", type=_positive(), required=True, help="number of products")
    g.add_argument("--out", required=True, help="output documents.jsonl path")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--workers", type=_positive(), default=1, help="processes")

    i = sub.add_parser("index", help="prebuild (or check) the search index of a catalogue")
    i.add_argument("--catalog", help="documents.jsonl or raw items json (default: synthetic)")
    i.add_argument("--instructions", help="items_ins_v2*.json")
    i.add_argument("--human-goals", help="items_human_ins.json")
    i.add_argument("--index-dir", help="index directory (default: the server's cache location)")
    i.add_argument("--synthetic-products", type=_positive(), default=1000)
    i.add_argument("--synthetic-seed", type=int, default=0)
    i.add_argument("--workers", type=_positive(), default=1, help="processes for analysis")
    return p


def _exit_on_stdin_eof() -> None:
    """Exit the process as soon as standard input closes (the parent died or let go of the pipe)."""
    import threading

    def watch() -> None:
        try:
            sys.stdin.buffer.read()
        finally:
            os._exit(0)

    threading.Thread(target=watch, name="webshop-stdin-watch", daemon=True).start()


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "generate":
            from .synthetic import write_documents

            path = write_documents(args.out, args.products, seed=args.seed, workers=args.workers)
            print(f"wrote {args.products} products to {path}")
            return 0

        from .loader import ShopConfig, load_shop

        cfg = ShopConfig(
            catalog=args.catalog,
            instructions=args.instructions,
            human_goals=args.human_goals,
            index_dir=args.index_dir,
            synthetic_products=args.synthetic_products,
            synthetic_seed=args.synthetic_seed,
        )
        if args.command == "index":
            cfg.index_workers = args.workers
            shop = load_shop(cfg, log=True)
            print(f"index ready: {len(shop.index.doc_ids)} documents, {len(shop.index.terms)} terms")
            return 0

        cfg.goal_kind = args.goals
        cfg.title_nouns = args.title_nouns
        cfg.index_workers = args.index_workers
        cfg.seed = args.seed
        cfg.session_ttl = args.session_ttl
        cfg.max_sessions = args.max_sessions
        cfg.session_idle = args.session_idle
        cfg.show_attrs = args.show_attrs
        cfg.options_mode = args.options_mode
        if args.exit_on_stdin_eof:
            _exit_on_stdin_eof()
        shop = load_shop(cfg, log=True)
        from .app import create_app
        from .serve import serve

        serve(
            create_app(shop), host=args.host, port=args.port, threads=args.workers,
            max_connections=args.max_connections, request_timeout=args.request_timeout,
            idle_timeout=args.idle_timeout,
        )
        return 0
    except (FileNotFoundError, ValueError, OSError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"hgpo webshop {args.command}: error: {msg}", file=sys.stderr)
        return 2
