"""Download ALFWorld's text-game release assets and unpack them into the upstream layout.

The assets are the zips that ``alfworld-download`` fetches from ALFWorld's GitHub releases (games only:
no detector weights, no THOR data). Each is downloaded to ``DEST/.downloads/<name>.part`` (an interrupted
download resumes with an HTTP ``Range`` request), checked (length against ``Content-Length``, every zip
member's CRC, members inside ``json_2.1.1/`` only), renamed, then extracted into ``DEST``:
``DEST/json_2.1.1/<split>/<task>/<trial>/...``. ``DEST/logic/`` receives the domain and grammar of the
installed ``alfworld`` package, as ``alfworld-download`` does.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import urllib.error
import urllib.request
import zipfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

__all__ = ["ASSETS", "DEFAULT_BASE_URL", "DownloadError", "download_assets"]

DEFAULT_BASE_URL = "https://github.com/alfworld/alfworld/releases/download"

#: Asset name -> path under the release URL.
ASSETS: dict[str, str] = {
    "tw-pddl": "0.4.0/json_2.1.2_tw-pddl.zip",  # games, "move X to Y" language (alfworld 0.4.x)
    "tw-pddl-2.1.3": "0.4.2/json_2.1.3_tw-pddl.zip",  # games, same language (alfworld 0.5.0)
    "json": "0.2.2/json_2.1.1_json.zip",  # traj_data.json (human goal annotations)
    "pddl": "0.2.2/json_2.1.1_pddl.zip",  # initial_state.pddl
}
DEFAULT_ASSETS: tuple[str, ...] = ("tw-pddl",)
_TOP = "json_2.1.1"
_CHUNK = 1 << 16


class DownloadError(RuntimeError):
    """A download or verification failed; the message says which asset and why."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verify_zip(path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as zf:
            for name in zf.namelist():
                parts = PurePosixPath(name).parts
                if not parts or parts[0] != _TOP or ".." in parts or name.startswith("/"):
                    raise DownloadError(f"{path.name}: unexpected member {name!r} (expected {_TOP}/...)")
            bad = zf.testzip()
            if bad is not None:
                raise DownloadError(f"{path.name}: corrupt member {bad!r} (CRC mismatch)")
    except zipfile.BadZipFile as exc:
        raise DownloadError(f"{path.name}: not a valid zip archive ({exc})") from exc


def _fetch(url: str, target: Path, progress: bool, timeout: float) -> None:
    """Download ``url`` to ``target`` through ``target.part``, resuming a previous partial download."""
    from tqdm import tqdm

    part = target.with_name(target.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "hgpo-alfworld-download"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # the partial file is already complete
            part.replace(target)
            return
        raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise DownloadError(f"{url}: {getattr(exc, 'reason', exc)}") from exc
    with response:
        resumed = response.status == 206
        if not resumed:
            have = 0
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        with open(part, "ab" if resumed else "wb") as out, tqdm(
            total=total, initial=have, unit="B", unit_scale=True, desc=target.name, disable=not progress
        ) as bar:
            try:
                for block in iter(lambda: response.read(_CHUNK), b""):
                    out.write(block)
                    bar.update(len(block))
            except (OSError, urllib.error.URLError) as exc:
                raise DownloadError(f"{url}: interrupted after {out.tell()} bytes ({exc}); run again to resume") from exc
    size = part.stat().st_size
    if total is not None and size != total:
        raise DownloadError(f"{url}: got {size} of {total} bytes; run again to resume")
    part.replace(target)


def _extract(archive: Path, dest: Path) -> int:
    with zipfile.ZipFile(archive) as zf:
        members = zf.infolist()
        for member in members:
            zf.extract(member, dest)
    return len(members)


def _install_logic(dest: Path) -> None:
    from hgpo_envs.alfworld.logic import package_logic_dir

    try:
        source = package_logic_dir()
    except FileNotFoundError:
        return
    (dest / "logic").mkdir(parents=True, exist_ok=True)
    for name in ("alfred.pddl", "alfred.twl2"):
        if not (dest / "logic" / name).exists():
            shutil.copyfile(source / name, dest / "logic" / name)


def download_assets(
    dest: str | Path,
    assets: Sequence[str] = DEFAULT_ASSETS,
    base_url: str = DEFAULT_BASE_URL,
    force: bool = False,
    progress: bool = True,
    timeout: float = 60.0,
) -> dict[str, dict]:
    """Download, verify and unpack ``assets`` into ``dest``. Returns ``{asset: {"url", "sha256", "size",
    "members"}}`` (also written to ``dest/.downloads/manifest.json``). Raises :class:`DownloadError`.

    Already verified archives are not downloaded again unless ``force``; a ``.part`` file resumes.
    """
    unknown = [a for a in assets if a not in ASSETS]
    if unknown:
        raise ValueError(f"unknown asset(s) {', '.join(map(repr, unknown))}; known: {', '.join(ASSETS)}")
    dest = Path(dest).expanduser()
    cache = dest / ".downloads"
    cache.mkdir(parents=True, exist_ok=True)
    manifest_path = cache / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    for asset in assets:
        url = f"{base_url.rstrip('/')}/{ASSETS[asset]}"
        archive = cache / PurePosixPath(ASSETS[asset]).name
        if force:
            archive.unlink(missing_ok=True)
            archive.with_name(archive.name + ".part").unlink(missing_ok=True)
        if not archive.exists():
            _fetch(url, archive, progress, timeout)
        try:
            _verify_zip(archive)
        except DownloadError:
            archive.unlink(missing_ok=True)  # a bad archive is never kept: the next run starts over
            raise
        members = _extract(archive, dest)
        manifest[asset] = {"url": url, "sha256": _sha256(archive), "size": archive.stat().st_size,
                           "members": members}
        manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    _install_logic(dest)
    return {a: manifest[a] for a in assets}
