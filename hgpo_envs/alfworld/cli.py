"""``hgpo alfworld``: download, pack and generate ALFWorld game sets; prepare, inspect and clear the cache
of grounded games."""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

HELP = "ALFWorld game sets: download the release, pack a data folder, generate new games, manage the cache"

_EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one clear line, exit status 2
        print(f"hgpo alfworld: error: {message}", file=sys.stderr)
        raise SystemExit(_EXIT_BAD_INPUT)


def _range(text: str) -> tuple[int, int]:
    lo, _, hi = text.partition(",")
    try:
        values = (int(lo), int(hi or lo))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LO,HI (or N), got {text!r}") from None
    return values


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an int >= 1, got {text!r}")
    return value


def _cache_parser(sub: argparse._SubParsersAction) -> None:
    cache = sub.add_parser("cache", help="the on-disk cache of grounded games (native engine): prepare, info, clear",
                           description="The native engine grounds each game once and keeps it in "
                                       "$HGPO_ALFWORLD_CACHE (default ~/.cache/hgpo/alfworld_native), in one "
                                       "version folder per engine version.")
    csub = cache.add_subparsers(dest="cache_command", required=True, parser_class=_Parser)
    pr = csub.add_parser("prepare", help="ground every game of a set into the cache ahead of training",
                         description="Ground every game of a set into the cache (games already cached are "
                                     "skipped, so an interrupted run continues where it stopped).")
    pr.add_argument("data", nargs="?", default=None,
                    help="a packed FILE.jsonl.gz, an upstream or packed data folder, or a split name "
                         "(default: $ALFWORLD_DATA), as hgpo/ALFWorld-v0's data_dir")
    pr.add_argument("--split", nargs="+", action="extend", default=None, metavar="S",
                    help="split(s) of the data: train (the default for a folder), eval_in_distribution/valid_seen, "
                         "eval_out_of_distribution/valid_unseen, valid_train, generated")
    pr.add_argument("--workers", type=_workers, default=None,
                    help="processes grounding games (default: the CPU count)")
    pr.add_argument("--generated-games", type=int, default=1000, help="size of the generated split (default 1000)")
    pr.add_argument("--generator-seed", type=int, default=0, help="seed of the generated split (default 0)")
    pr.add_argument("--no-progress", action="store_true", help="no progress bar")
    csub.add_parser("info", help="the cache root and its version folders (files, size, stale or current)")
    cl = csub.add_parser("clear", help="remove the cache's version folders (all, or --stale ones)",
                         description="Remove version folders (v<N>-<digest>) under the cache root; nothing "
                                     "else in the root is ever touched.")
    cl.add_argument("--stale", action="store_true",
                    help="only the folders of other engine versions (not the one this installation uses; "
                         "another installation sharing the cache root may still use one)")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="hgpo alfworld", description=HELP)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    dl = sub.add_parser("download", help="fetch ALFWorld's game release into the upstream layout")
    dl.add_argument("--dest", type=Path, default=None,
                    help="data folder (default: $ALFWORLD_DATA, else ~/.cache/alfworld)")
    dl.add_argument("--assets", default="tw-pddl",
                    help="comma-separated: tw-pddl (json_2.1.2 games, default), tw-pddl-2.1.3, json "
                         "(traj_data.json), pddl (initial_state.pddl)")
    dl.add_argument("--base-url", default=None, help="release URL (default: ALFWorld's GitHub releases)")
    dl.add_argument("-f", "--force", action="store_true", help="download again even if verified archives exist")
    dl.add_argument("--no-progress", action="store_true", help="no progress bar")

    pk = sub.add_parser("pack", help="pack an upstream data folder's games into one .jsonl.gz")
    pk.add_argument("dir", type=Path, help="$ALFWORLD_DATA, its json_2.1.1 folder, or one split folder")
    pk.add_argument("-o", "--output", type=Path, required=True, help="output FILE.jsonl.gz")
    pk.add_argument("--split", default=None,
                    help="upstream split folder to pack (train, valid_seen, valid_unseen, ...; default: all)")
    pk.add_argument("--task-types", nargs="+", default=None, help="keep only these task types")

    gen = sub.add_parser("generate", help="generate new verified games (packed format)")
    gen.add_argument("--n", type=int, required=True, help="number of games")
    gen.add_argument("--seed", type=int, default=0, help="seed (game i is the same for the same seed)")
    gen.add_argument("--task-types", nargs="+", default=None, help="task types to cycle through (default: all six)")
    gen.add_argument("--receptacles", type=_range, default=(6, 14), help="receptacles per scene, LO,HI")
    gen.add_argument("--distractors", type=_range, default=(3, 12), help="distractor objects, LO,HI")
    gen.add_argument("--closed-containers", type=_range, default=(1, 4), help="closed containers, LO,HI")
    gen.add_argument("-o", "--output", type=Path, required=True, help="output FILE.jsonl.gz")
    gen.add_argument("--no-progress", action="store_true", help="no progress bar")

    _cache_parser(sub)
    return parser


def _download(args: argparse.Namespace) -> int:
    from hgpo_envs.alfworld.download import ASSETS, DEFAULT_BASE_URL, DownloadError, download_assets

    assets = [a.strip() for a in args.assets.split(",") if a.strip()]
    unknown = [a for a in assets if a not in ASSETS]
    if unknown or not assets:
        raise ValueError(f"unknown asset(s) {unknown}; known: {', '.join(ASSETS)}")
    dest = args.dest or Path(os.environ.get("ALFWORLD_DATA") or "~/.cache/alfworld").expanduser()
    try:
        result = download_assets(dest, assets, base_url=args.base_url or DEFAULT_BASE_URL, force=args.force,
                                 progress=not args.no_progress)
    except DownloadError as exc:
        print(f"hgpo alfworld download: failed: {exc}", file=sys.stderr)
        return 1
    for asset, meta in result.items():
        print(f"{asset}: {meta['members']} files, sha256 {meta['sha256']}")
    print(f"ALFWorld data in {dest} (use data_dir={str(dest)!r} or ALFWORLD_DATA={dest})")
    return 0


def _pack(args: argparse.Namespace) -> int:
    from hgpo_envs.alfworld.gameset import pack_games, write_packed
    from hgpo_envs.alfworld.tasks import check_task_types

    if not args.dir.is_dir():
        raise ValueError(f"data folder not found: {args.dir}")
    records, logic = pack_games(args.dir, args.split, check_task_types(args.task_types))
    count = write_packed(records, args.output)
    logic_dir = args.output.parent / "logic"
    if not logic_dir.exists():
        # The games' own domain and grammar template, so the packed set plays exactly as the files did.
        logic_dir.mkdir(parents=True)
        (logic_dir / "alfred.pddl").write_text(logic.domain, encoding="utf-8")
        (logic_dir / "alfred.twl2").write_text(logic.grammar, encoding="utf-8")
    print(f"packed {count} games into {args.output}")
    return 0


def _generate(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from hgpo_envs.alfworld.gameset import write_packed
    from hgpo_envs.alfworld.generator import GeneratorConfig, generate_games
    from hgpo_envs.alfworld.tasks import check_task_types

    if args.n < 1:
        raise ValueError(f"--n must be >= 1, got {args.n}")
    types = check_task_types(args.task_types)
    config = GeneratorConfig(receptacles=args.receptacles, distractors=args.distractors,
                             closed_containers=args.closed_containers)
    games = tqdm(generate_games(args.n, args.seed, types, config), total=args.n, unit="game",
                 disable=args.no_progress, desc="generate")
    count = write_packed(games, args.output)
    print(f"wrote {count} verified games to {args.output}")
    return 0


def _size(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def _game_texts(args: argparse.Namespace) -> list:
    from hgpo_envs.alfworld.prepare import GameTexts
    from hgpo_envs.alfworld.sources import resolve_games
    from hgpo_envs.alfworld.tasks import SPLITS, TASK_TYPES

    data, splits = args.data, list(args.split or [])
    if data is not None and data in SPLITS and not Path(data).expanduser().exists():
        data, splits = None, [*splits, data]  # `prepare valid_seen`: a split of $ALFWORLD_DATA
    texts: list[GameTexts] = []
    for split in splits or [None]:
        games = resolve_games(split, data, TASK_TYPES, args.generated_games, args.generator_seed)
        if games.name == "generated" and split != "generated":
            raise FileNotFoundError("no ALFWorld data: pass DATA (a packed .jsonl.gz or a data folder), set "
                                    "ALFWORLD_DATA, or use --split generated")
        if len(games) == 0:
            raise ValueError(f"no game in {games.name}")
        for record in games.games:
            game = games.logic.game(record.task_desc, record.pddl_problem, record.walkthrough)
            texts.append(GameTexts(record.game_id, game["pddl_domain"], game["grammar"], game["pddl_problem"]))
        print(f"{games.name}{'' if split is None else f' ({split})'}: {len(games)} games")
    return texts


def _cache_prepare(args: argparse.Namespace) -> int:
    from hgpo_envs.alfworld.game_cache import cache_dir, version_folders
    from hgpo_envs.alfworld.prepare import default_workers, prepare_games

    if cache_dir() is None:
        raise ValueError("the on-disk cache is off (HGPO_ALFWORLD_CACHE=off): unset it to prepare games")
    texts = _game_texts(args)
    workers = args.workers or default_workers()
    try:
        result = prepare_games(texts, workers=workers, progress=not args.no_progress)
    except PermissionError as exc:
        print(f"hgpo alfworld cache prepare: failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("hgpo alfworld cache prepare: interrupted; the games grounded so far are kept (run it again to "
              "continue)", file=sys.stderr)
        return 130
    cpu = ""
    if result.cpu_seconds:
        cpu = (f", {sum(result.cpu_seconds):.1f} CPU-s, median "
               f"{statistics.median(result.cpu_seconds) * 1000:.0f} ms a game")
    print(f"grounded {result.grounded} games, {result.cached} already cached, in {result.seconds:.1f} s "
          f"({workers} worker{'s' if workers > 1 else ''}{cpu})")
    folder = next((f for f in version_folders() if f.current), None)
    if folder is not None:
        print(f"cache folder {folder.path}: {folder.files} files, {_size(folder.bytes)}")
    for name, error in result.failed[:10]:
        print(f"hgpo alfworld cache prepare: failed: {name}: {error}", file=sys.stderr)
    if result.failed:
        more = len(result.failed) - 10
        print(f"hgpo alfworld cache prepare: {len(result.failed)} game(s) failed"
              f"{f' ({more} not shown)' if more > 0 else ''}", file=sys.stderr)
        return 1
    return 0


def _cache_info(args: argparse.Namespace) -> int:
    import time

    from hgpo_envs.alfworld.game_cache import cache_dir, cache_root, version_folders

    root, current = cache_root(), cache_dir()
    if root is None or current is None:
        print("the on-disk cache is off (HGPO_ALFWORLD_CACHE=off)")
        return 0
    print(f"cache root: {root}")
    print(f"current:    {current.name} (this installation's engine)")
    folders = version_folders()
    if not folders:
        print("no version folder yet" if root.is_dir() else "the cache root does not exist yet")
        return 0
    width = max(len(f.name) for f in folders)
    for f in folders:
        state = "current" if f.current else "stale"
        if f.foreign:
            state += f", also holds {len(f.foreign)} other entr{'y' if len(f.foreign) == 1 else 'ies'} (never cleared)"
        written = time.strftime("%Y-%m-%d %H:%M", time.localtime(f.modified))
        print(f"  {f.name:<{width}}  {f.files:>6} files  {_size(f.bytes):>9}  written {written}  {state}")
    stale = [f for f in folders if f.stale]
    print(f"total: {len(folders)} folder(s), {sum(f.files for f in folders)} files, "
          f"{_size(sum(f.bytes for f in folders))}; stale: {len(stale)} folder(s), "
          f"{_size(sum(f.bytes for f in stale))}" + (" (hgpo alfworld cache clear --stale)" if stale else ""))
    return 0


def _cache_clear(args: argparse.Namespace) -> int:
    from hgpo_envs.alfworld.game_cache import cache_root, clear_folders, version_folders

    root = cache_root()
    if root is None:
        raise ValueError("the on-disk cache is off (HGPO_ALFWORLD_CACHE=off): unset it to name the cache to clear")
    folders = [f for f in version_folders() if f.stale or not args.stale]
    if not folders:
        print(f"nothing to clear in {root}")
        return 0
    removed, kept = clear_folders(folders)
    for f in removed:
        print(f"removed {f.name} ({f.files} files, {_size(f.bytes)})")
    for f in kept:
        print(f"kept {f.name}: it holds other entries ({', '.join(f.foreign[:3])}{', ...' if len(f.foreign) > 3 else ''})")
    print(f"freed {_size(sum(f.bytes for f in removed))} in {len(removed)} folder(s) under {root}")
    return 0


_CACHE_COMMANDS = {"prepare": _cache_prepare, "info": _cache_info, "clear": _cache_clear}


def main(argv: list[str]) -> int:
    """Entry point of ``hgpo alfworld``; returns the exit status (2 for bad input)."""
    args = _parser().parse_args(argv)
    if args.command == "cache":
        handler, name = _CACHE_COMMANDS[args.cache_command], f"cache {args.cache_command}"
    else:
        handler, name = {"download": _download, "pack": _pack, "generate": _generate}[args.command], args.command
    try:
        return handler(args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"hgpo alfworld {name}: error: {exc}", file=sys.stderr)
        return _EXIT_BAD_INPUT
