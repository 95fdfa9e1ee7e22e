"""Provides image data sets as in-memory uint8 arrays (N, H, W, C) with labels and class names.

Sources: `mnist`, `fashion-mnist` and `cifar10` (local files first, else torchvision's download with
its own checksums), and `imagefolder:PATH` (a folder or .tar.gz with one subfolder per class).
Decoded arrays are cached as .npz under the data folder (or a private folder of the user's when the data
folder is read-only) so the second run starts in a second. Every file read here is untrusted: a bad one is
refused in one line that names it, and a cache is checked before it is trained on.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import stat
import tarfile
import tempfile
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from vitui.core.errors import DataError
from vitui.core.settings import IMAGEFOLDER, split_dataset

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".ppm", ".tif", ".tiff")
MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
MNIST_CLASSES = [str(d) for d in range(10)]
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
IDX_LIMIT = 1 << 31  # bytes of data an idx file may claim (MNIST's train images hold 47 million)


@dataclass
class ImageData:
    """A data set in memory. test_x is None when the source has no test split (e.g. an image folder)."""

    name: str
    train_x: np.ndarray  # (N, H, W, C) uint8
    train_y: np.ndarray  # (N,) int64
    test_x: np.ndarray | None
    test_y: np.ndarray | None
    class_names: list[str]

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.train_x.shape[1:])  # type: ignore[return-value]


def default_data_dir() -> Path:
    env = os.environ.get("VITUI_DATA")
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "vitui"


def offline() -> bool:
    """VITUI_OFFLINE=1 forbids downloads (tests, air-gapped machines): a missing set fails at once."""
    return os.environ.get("VITUI_OFFLINE", "") not in ("", "0", "false", "no")


def load_dataset(name: str, data_dir: Path | None = None) -> ImageData:
    data_dir = Path(data_dir) if data_dir else default_data_dir()
    if name == "mnist":
        return _load_idx_set(name, data_dir, MNIST_CLASSES, ["mnist", "MNIST/raw"], "MNIST")
    if name == "fashion-mnist":
        return _load_idx_set(name, data_dir, FASHION_CLASSES,
                             ["fashion-mnist", "FashionMNIST/raw", "/usr/share/datasets/fashion-mnist"], "FashionMNIST")
    if name == "cifar10":
        return _load_cifar10(data_dir)
    kind, path = split_dataset(name)
    if kind == IMAGEFOLDER and path:
        return _load_imagefolder(Path(path).expanduser(), data_dir)
    raise DataError(f"unknown dataset {name!r}; use mnist, fashion-mnist, cifar10 or imagefolder:PATH")


# --------------------------------------------------------------------------- MNIST-style idx files

def read_idx(path: Path) -> np.ndarray:
    """Read an idx file (optionally gzipped): a big-endian header of dims, then uint8 data. A file that is not gzip,
    not idx, truncated or longer than its header says is a DataError naming it; it is read no further than the
    header's size (a random header cannot make it read gigabytes)."""
    opener = gzip.open if path.suffix == ".gz" else open
    fix = "re-download it (or delete it, and vitui downloads it again)"
    try:
        with opener(path, "rb") as fh:
            head = fh.read(4)
            if len(head) < 4 or head[:3] != b"\0\0\x08":
                raise DataError(f"{path} is not an idx file of bytes (bad magic number); {fix}")
            raw_dims = fh.read(4 * head[3])
            dims = tuple(int.from_bytes(raw_dims[i: i + 4], "big") for i in range(0, len(raw_dims), 4))
            size = math.prod(dims)
            if len(raw_dims) < 4 * head[3] or size > IDX_LIMIT:
                raise DataError(f"{path} has a broken header (dimensions {dims}); {fix}")
            data = fh.read(size)
            longer = fh.read(1)
    except (OSError, EOFError, zlib.error) as exc:  # not gzip, or a gzip stream cut short
        raise DataError(f"{path} cannot be read ({exc}): it is truncated or not what its name says; {fix}") from None
    if len(data) != size or longer:
        raise DataError(f"{path} does not match its header ({len(data):,}{'+' if longer else ''} of {size:,} bytes "
                        f"of data): it is truncated or damaged; {fix}")
    return np.frombuffer(data, dtype=np.uint8).reshape(dims)


def _find_idx_files(folder: Path) -> list[Path] | None:
    found = []
    for stem in MNIST_FILES:
        for candidate in (folder / stem, folder / f"{stem}.gz"):
            if candidate.is_file():
                found.append(candidate)
                break
        else:
            return None
    return found


def _load_idx_set(name: str, data_dir: Path, classes: list[str], places: list[str], tv_name: str) -> ImageData:
    folders = [data_dir / p if not p.startswith("/") else Path(p) for p in places]
    files = next((f for f in map(_find_idx_files, folders) if f), None)
    if files is None:
        _download_torchvision(name, tv_name, data_dir, folders)
        files = _find_idx_files(data_dir / tv_name / "raw")
        if files is None:
            raise DataError(f"data set {name}: download finished but the files are not in {data_dir / tv_name / 'raw'}")
    train_x, train_y, test_x, test_y = (read_idx(f) for f in files)
    for array, file, ndim in ((train_x, files[0], 3), (train_y, files[1], 1), (test_x, files[2], 3), (test_y, files[3], 1)):
        if array.ndim != ndim:
            raise DataError(f"data set {name}: {file} holds {array.ndim}-dimensional data, not "
                            f"{'images' if ndim == 3 else 'labels'}; put the right file under that name")
    if train_x.shape[0] != train_y.shape[0] or test_x.shape[0] != test_y.shape[0]:
        raise DataError(f"data set {name}: image and label files disagree in length in {files[0].parent}")
    for labels, file in ((train_y, files[1]), (test_y, files[3])):
        if labels.size and labels.max() >= len(classes):
            raise DataError(f"data set {name}: {file} holds label {labels.max()}, but {name} has classes "
                            f"0..{len(classes) - 1}; re-download it")
    return ImageData(name, train_x[..., None], train_y.astype(np.int64), test_x[..., None], test_y.astype(np.int64), classes)


def _download_torchvision(name: str, tv_name: str, data_dir: Path, looked: list[Path]) -> None:
    where = ", ".join(str(p) for p in looked)
    hint = (f"put the four idx files ({', '.join(MNIST_FILES)}, .gz or not) in {looked[0]}, "
            f"or pass --data-dir to a folder that has them")
    if offline():
        raise DataError(f"data set {name} not found (looked in {where}) and downloads are off (VITUI_OFFLINE); {hint}")
    import torchvision

    dataset_cls = getattr(torchvision.datasets, tv_name)
    mirror = os.environ.get("VITUI_MIRROR")
    if mirror:  # a local or institutional mirror with the official file names (tests use 127.0.0.1)
        dataset_cls.mirrors = [mirror.rstrip("/") + "/"]
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        dataset_cls(root=str(data_dir), train=True, download=True)
    except Exception as exc:  # noqa: BLE001 - network errors come in many types
        raise DataError(f"data set {name} not found (looked in {where}) and the download failed "
                        f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); {hint}") from None


# --------------------------------------------------------------------------- CIFAR-10

def _load_cifar10(data_dir: Path) -> ImageData:
    folder = data_dir / "cifar-10-batches-py"
    hint = (f"put the python version of CIFAR-10 (cifar-10-python.tar.gz, or its extracted cifar-10-batches-py "
            f"folder) in {data_dir}, or use --set dataset=imagefolder:PATH with a folder of class subfolders")
    if not folder.is_dir() and not (data_dir / "cifar-10-python.tar.gz").is_file() and offline():
        raise DataError(f"data set cifar10 not found (looked in {folder}) and downloads are off (VITUI_OFFLINE); {hint}")
    import torchvision

    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        train = torchvision.datasets.CIFAR10(root=str(data_dir), train=True, download=not folder.is_dir())
        test = torchvision.datasets.CIFAR10(root=str(data_dir), train=False, download=False)
    except Exception as exc:  # noqa: BLE001
        raise DataError(f"data set cifar10 not found in {folder} and could not be downloaded "
                        f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); {hint}") from None
    return ImageData("cifar10", np.asarray(train.data), np.asarray(train.targets, dtype=np.int64),
                     np.asarray(test.data), np.asarray(test.targets, dtype=np.int64), list(train.classes))


# --------------------------------------------------------------------------- image folders

def _cache_dir(data_dir: Path) -> Path | None:
    """The decoded-array cache: inside the data folder when writable, else a private (0700) folder of this user's;
    None (decode every time) when neither can be had safely."""
    folder = data_dir / "vitui-cache"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if os.access(folder, os.W_OK | os.X_OK):
            return folder
    except OSError:
        pass
    # Never a shared folder under a name others can guess: there another user could plant a symlink (and the run
    # would write through it) or a poisoned cache (and the run would train on it).
    for private in (default_data_dir() / "vitui-cache", Path(tempfile.gettempdir()) / f"vitui-cache-{os.getuid()}"):
        if _private_folder(private):
            return private
    return None


def _private_folder(folder: Path) -> bool:
    """Make or check `folder` as this user's own: a real folder (not a link), owned by us, mode 0700."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = os.lstat(folder)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            return False  # a link or someone else's folder in its place: planted, not ours
        if info.st_mode & 0o077:
            os.chmod(folder, 0o700)
        return os.access(folder, os.W_OK | os.X_OK)
    except OSError:
        return False


def _source_key(path: Path) -> str:
    """Cache key from the source's path, size and modification time: editing the source invalidates it."""
    info = path.stat()
    if path.is_dir():
        stamp = max((p.stat().st_mtime_ns for p in path.rglob("*")), default=info.st_mtime_ns)
    else:
        stamp = info.st_mtime_ns
    text = f"{path.resolve()}|{info.st_size}|{stamp}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _load_imagefolder(path: Path, data_dir: Path) -> ImageData:
    if not path.exists():
        raise DataError(f"data set imagefolder:{path}: {path} does not exist; give a folder with one subfolder "
                        "of images per class, or a .tar.gz of one")
    folder = _cache_dir(data_dir)
    cache = folder / f"imagefolder-{path.name}-{_source_key(path)}.npz" if folder else None
    cached = _read_cache(cache) if cache else None
    if cached is not None:
        x, y, classes = cached
        return ImageData(f"imagefolder:{path}", x, y, None, None, classes)
    if path.is_file():
        with tempfile.TemporaryDirectory(prefix="vitui-extract-") as tmp:
            try:
                with tarfile.open(path) as tar:
                    tar.extractall(tmp, filter=lambda member, dest: _refuse_outside_paths(member, dest, path))
            except (tarfile.TarError, OSError) as exc:
                raise DataError(f"data set imagefolder:{path}: cannot unpack it ({exc}); give a .tar.gz or a folder") from None
            x, y, classes = _decode_folder(_class_root(Path(tmp), path), path)
    else:
        x, y, classes = _decode_folder(_class_root(path, path), path)
    if cache:
        _write_cache(cache, x, y, classes)
    return ImageData(f"imagefolder:{path}", x, y, None, None, classes)


def _refuse_outside_paths(member: tarfile.TarInfo, dest: str, source: Path) -> tarfile.TarInfo:
    """tarfile's "data" filter, but an entry named by an absolute path or with .. is refused, not unpacked inside:
    the filter alone would strip "/tmp/x.jpg" to a class "tmp" and train on it."""
    if member.name.startswith("/") or ".." in PurePosixPath(member.name).parts:
        raise DataError(f"data set imagefolder:{source}: the archive holds {member.name!r}, a path outside its own "
                        f"folder (absolute or with ..); nothing was trained on; rebuild it with relative paths")
    return tarfile.data_filter(member, dest)


def _read_cache(cache: Path) -> tuple[np.ndarray, np.ndarray, list[str]] | None:
    """A cache's arrays if it holds what a decode makes (uint8 images, one label per image within the classes);
    None, and the file removed, when it is truncated, damaged or not ours: it is rebuilt, never trusted."""
    if not cache.is_file():
        return None
    try:
        with np.load(cache) as npz:  # no pickles: allow_pickle stays off
            x, y, classes = npz["x"], npz["y"], [str(c) for c in npz["classes"]]
        if (x.dtype == np.uint8 and x.ndim == 4 and x.shape[-1] in (1, 3) and len(x) > 0 and y.dtype == np.int64
                and y.shape == (len(x),) and len(classes) >= 2 and 0 <= y.min() and y.max() < len(classes)):
            return x, y, classes
    except Exception:  # noqa: BLE001 - a damaged zip fails in many ways (BadZipFile, EOFError, ValueError, ...)
        pass
    try:
        cache.unlink()
    except OSError:
        pass
    return None


def _write_cache(cache: Path, x: np.ndarray, y: np.ndarray, classes: list[str]) -> None:
    """Write the cache under a temporary name of its own (two first decodes of one folder never share one), then
    rename it into place; a cache that cannot be written (a full disk) costs the next run only a decode."""
    fd, tmp = tempfile.mkstemp(dir=cache.parent, prefix=f".{cache.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)  # others who share the data folder may read it, as they may its images
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, x=x, y=y, classes=np.array(classes))
        os.replace(tmp, cache)
    except OSError:
        Path(tmp).unlink(missing_ok=True)


def _class_root(folder: Path, source: Path) -> Path:
    """Descend through single-folder wrappers (train/, cifar10/train/) to the folder of class folders."""
    current = folder
    for _ in range(4):
        subdirs = sorted(p for p in current.iterdir() if p.is_dir())
        images = [p for p in current.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]
        if len(subdirs) == 1 and not images:
            current = subdirs[0]
            continue
        if len(subdirs) >= 2:
            return current
        break
    raise DataError(f"data set imagefolder:{source}: expected one subfolder of images per class (at least two)")


def _decode_one(path: str) -> np.ndarray | str:
    """One image as RGB pixels, or why it cannot be: a truncated or non-image file, a decompression bomb (more
    pixels than PIL's limit, which PIL itself only warns about below twice the limit)."""
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                return np.asarray(img.convert("RGB"))
    except Exception as exc:  # noqa: BLE001 - PIL fails in many ways on a bad file (OSError, SyntaxError, ...)
        return f"{type(exc).__name__}: {exc}"


def _decode_folder(root: Path, source: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    paths, labels = [], []
    for index, cls in enumerate(classes):
        files = sorted(p for p in (root / cls).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        paths += [str(p) for p in files]
        labels += [index] * len(files)
    if not paths:
        raise DataError(f"data set imagefolder:{source}: no images found ({', '.join(IMAGE_SUFFIXES)})")
    workers = min(os.cpu_count() or 1, 8)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        images = list(pool.map(_decode_one, paths, chunksize=256))
    bad = [(path, why) for path, why in zip(paths, images) if isinstance(why, str)]
    if bad:
        path, why = bad[0]
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise DataError(f"data set imagefolder:{source}: {Path(path).relative_to(root)} is not a usable image "
                        f"({why}){more}; remove or replace it")
    shapes = {img.shape for img in images}
    if len(shapes) != 1:
        raise DataError(f"data set imagefolder:{source}: images differ in size ({sorted(shapes)[:3]}...); resize them to one size")
    x = np.stack(images)
    if all(np.array_equal(x[..., 0], x[..., c]) for c in (1, 2)):
        x = x[..., :1].copy()  # greyscale images stored as RGB: keep one channel
    return x, np.asarray(labels, dtype=np.int64), classes


# --------------------------------------------------------------------------- splits

@dataclass
class Splits:
    train_x: np.ndarray
    train_y: np.ndarray
    val_x: np.ndarray
    val_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    test_name: str  # "test", or "val" when the source has no test split and validation doubles as it


def split(data: ImageData, val_fraction: float, seed: int) -> Splits:
    """Hold out a seeded, class-stratified validation part of the train split."""
    rng = np.random.default_rng(seed)
    val_idx = []
    for cls in range(len(data.class_names)):
        members = np.flatnonzero(data.train_y == cls)
        rng.shuffle(members)
        val_idx.append(members[: int(round(len(members) * val_fraction))])
    val = np.sort(np.concatenate(val_idx)) if val_idx else np.array([], dtype=np.int64)
    mask = np.ones(len(data.train_y), dtype=bool)
    mask[val] = False
    train_x, train_y = data.train_x[mask], data.train_y[mask]
    val_x, val_y = data.train_x[val], data.train_y[val]
    if data.test_x is not None:
        return Splits(train_x, train_y, val_x, val_y, data.test_x, data.test_y, "test")
    if len(val) == 0:
        raise DataError(f"data set {data.name} has no test split, so it needs a validation part: set val_fraction > 0")
    return Splits(train_x, train_y, val_x, val_y, val_x, val_y, "val")
