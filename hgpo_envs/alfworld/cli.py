"""``hgpo alfworld``: download, pack and generate ALFWorld game sets."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

HELP = "ALFWorld game sets: download the release, pack a data folder, generate new games"

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


def main(argv: list[str]) -> int:
    """Entry point of ``hgpo alfworld``; returns the exit status (2 for bad input)."""
    args = _parser().parse_args(argv)
    handler = {"download": _download, "pack": _pack, "generate": _generate}[args.command]
    try:
        return handler(args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"hgpo alfworld {args.command}: error: {exc}", file=sys.stderr)
        return _EXIT_BAD_INPUT
