"""Hostile and broken data: bad images and archives, broken MNIST files, damaged or planted caches, a read-only data
folder, another local user, names files with a BOM or a huge line, and download servers that drip or flood."""

import gzip
import http.server
import io
import os
import shutil
import socket
import stat
import struct
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import REPO, write_idx
from tmpfs import tmpfs
from runners import data, names_data
from runners.names_data import load_names
from vitui.core.errors import DataError


def make_image_folder(root: Path, classes=("cat", "dog"), per_class=3, size=8) -> Path:
    rng = np.random.default_rng(0)
    for cls in classes:
        (root / cls).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(root / cls / f"{i}.png")
    return root


def jpeg_bytes(size: int = 16) -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (size, size, 3), dtype=np.uint8)).save(out, "JPEG")
    return out.getvalue()


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims width x height grey pixels and holds almost none: what a decompression bomb says it is."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


# --------------------------------------------------------------------------- bad images and archives

@pytest.mark.parametrize("name, content, why", [
    ("cut.jpg", jpeg_bytes()[:200], "truncated"),
    ("text.jpg", b"this is not an image\n", "cannot identify image file"),
    ("empty.png", b"", "cannot identify image file"),
    ("bomb.png", png_header(20_000, 20_000), "decompression bomb"),  # 400 M pixels: PIL refuses
    ("bomb-ish.png", png_header(10_000, 10_000), "decompression bomb"),  # 100 M: PIL only warns; refused here
], ids=["truncated-jpeg", "text", "empty", "bomb", "bomb-below-pil-error"])
def test_a_bad_image_is_named_in_one_line(tmp_path, name, content, why):
    folder = make_image_folder(tmp_path / "set")
    (folder / "dog" / name).write_bytes(content)
    with pytest.raises(DataError) as caught:
        data.load_dataset(f"imagefolder:{folder}", tmp_path / "data")
    message = str(caught.value)
    assert f"dog/{name} is not a usable image" in message and why in message.lower() and "\n" not in message
    assert not list((tmp_path / "data" / "vitui-cache").glob("*.npz"))  # nothing cached from a failed decode


def test_several_bad_images_name_the_first_and_count_the_rest(tmp_path):
    folder = make_image_folder(tmp_path / "set")
    for i in range(3):
        (folder / "cat" / f"bad{i}.jpg").write_bytes(b"junk")
    with pytest.raises(DataError, match=r"cat/bad0.jpg is not a usable image .*\(and 2 more\)"):
        data.load_dataset(f"imagefolder:{folder}", tmp_path)


@pytest.mark.parametrize("entry", ["/tmp/x.png", "train/../../x.png", "../x.png"])
def test_an_archive_entry_outside_its_folder_is_refused(tmp_path, entry):
    folder = make_image_folder(tmp_path / "set")
    archive = tmp_path / "set.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="train")
        payload = (folder / "cat" / "0.png").read_bytes()
        info = tarfile.TarInfo(entry)
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    with pytest.raises(DataError, match=f"the archive holds '{entry}', a path outside its own folder"):
        data.load_dataset(f"imagefolder:{archive}", tmp_path / "data")
    assert not (tmp_path / "x.png").exists() and not Path("/tmp/x.png").exists()


# --------------------------------------------------------------------------- MNIST files

def mnist_folder(root: Path, labels=None) -> Path:
    folder = root / "mnist"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for stem, count in (("train", 20), ("t10k", 10)):
        write_idx(folder / f"{stem}-images-idx3-ubyte.gz", rng.integers(0, 255, (count, 28, 28)))
        chosen = labels[:count] if labels is not None else np.arange(count) % 10
        write_idx(folder / f"{stem}-labels-idx1-ubyte.gz", chosen)
    return root


def test_a_sound_mnist_folder_loads(tmp_path):
    loaded = data.load_dataset("mnist", mnist_folder(tmp_path))
    assert loaded.train_x.shape == (20, 28, 28, 1) and loaded.test_y.max() == 9


@pytest.mark.parametrize("damage, message", [
    (lambda raw: raw[: len(raw) // 2], "truncated or not what its name says"),  # a download cut short
    (lambda raw: os.urandom(len(raw)), "truncated or not what its name says"),  # random bytes: not gzip
    (lambda raw: gzip.compress(os.urandom(2000)), "bad magic number"),  # gzip of random bytes: not idx
    (lambda raw: gzip.compress(bytes([0, 0, 8, 3]) + (1 << 30).to_bytes(4, "big") * 3), "broken header"),  # 2^90 B
    (lambda raw: gzip.compress(gzip.decompress(raw)[:-100]), "does not match its header"),
    (lambda raw: gzip.compress(gzip.decompress(raw) + b"extra"), "does not match its header"),
], ids=["truncated-gz", "random-bytes", "gzip-of-random", "huge-header", "short-data", "extra-data"])
def test_a_broken_mnist_file_is_named_in_one_line(tmp_path, damage, message):
    root = mnist_folder(tmp_path)
    target = root / "mnist" / "train-images-idx3-ubyte.gz"
    target.write_bytes(damage(target.read_bytes()))
    with pytest.raises(DataError, match=message) as caught:
        data.load_dataset("mnist", root)
    assert str(target) in str(caught.value) and "\n" not in str(caught.value)


def test_mnist_labels_out_of_range_are_refused(tmp_path):
    root = mnist_folder(tmp_path, labels=np.full(20, 12))
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte.gz holds label 12, but mnist has classes 0..9"):
        data.load_dataset("mnist", root)


def test_mnist_images_in_place_of_labels_are_refused(tmp_path):
    root = mnist_folder(tmp_path)
    shutil.copy(root / "mnist" / "t10k-images-idx3-ubyte.gz", root / "mnist" / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz holds 3-dimensional data, not labels"):
        data.load_dataset("mnist", root)


# --------------------------------------------------------------------------- caches

def cache_of(data_dir: Path) -> Path:
    [cache] = (data_dir / "vitui-cache").glob("*.npz")
    return cache


@pytest.mark.parametrize("spoil", [
    lambda cache: cache.write_bytes(cache.read_bytes()[:300]),  # truncated: a full disk or a kill mid-write
    lambda cache: np.savez(cache, x=np.zeros((6, 8, 8, 3), np.float32), y=np.zeros(6, np.int64),
                           classes=np.array(["cat", "dog"])),  # wrong dtype
    lambda cache: np.savez(cache, x=np.zeros((6, 8, 8), np.uint8), y=np.zeros(6, np.int64),
                           classes=np.array(["cat", "dog"])),  # wrong shape
    lambda cache: np.savez(cache, x=np.zeros((6, 8, 8, 3), np.uint8), y=np.full(6, 7, np.int64),
                           classes=np.array(["cat", "dog"])),  # labels beyond the classes: poisoned
    lambda cache: np.savez(cache, x=np.zeros((6, 8, 8, 3), np.uint8), y=np.zeros(5, np.int64),
                           classes=np.array(["cat", "dog"])),  # one label short
    lambda cache: np.savez(cache, x=np.zeros((6, 8, 8, 3), np.uint8), y=np.zeros(6, np.int64),
                           classes=np.array([object()], dtype=object)),  # a pickle: never loaded
], ids=["truncated", "float-images", "no-channels", "labels-out-of-range", "label-short", "pickle"])
def test_a_damaged_or_wrong_cache_is_rebuilt_and_later_runs_work(tmp_path, spoil):
    folder = make_image_folder(tmp_path / "set")
    first = data.load_dataset(f"imagefolder:{folder}", tmp_path / "data")
    spoil(cache_of(tmp_path / "data"))  # np.savez keeps a name that ends in .npz: it writes over the cache
    for _ in range(2):
        again = data.load_dataset(f"imagefolder:{folder}", tmp_path / "data")
        assert (again.train_x == first.train_x).all() and again.train_y.tolist() == first.train_y.tolist()
        assert again.class_names == ["cat", "dog"]
    with np.load(cache_of(tmp_path / "data")) as npz:
        assert npz["x"].dtype == np.uint8 and npz["y"].tolist() == first.train_y.tolist()
    assert not list((tmp_path / "data" / "vitui-cache").glob(".*"))  # no temporary file left


def test_a_read_only_data_folder_caches_in_a_private_folder(tmp_path, monkeypatch):
    folder = make_image_folder(tmp_path / "set")
    read_only = tmp_path / "ro"
    with tmpfs(read_only, "4m", "ro"):
        monkeypatch.delenv("VITUI_DATA", raising=False)
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "home-cache"))
        loaded = data.load_dataset(f"imagefolder:{folder}", read_only)
        private = tmp_path / "home-cache" / "vitui" / "vitui-cache"
        assert stat.S_IMODE(private.stat().st_mode) == 0o700 and len(list(private.glob("*.npz"))) == 1
        # With no usable home either, a folder in the temporary directory: this user's alone, never a shared name.
        monkeypatch.setenv("XDG_CACHE_HOME", str(read_only))
        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
        (tmp_path / "tmp").mkdir()
        again = data.load_dataset(f"imagefolder:{folder}", read_only)
        fallback = tmp_path / "tmp" / f"vitui-cache-{os.getuid()}"
        assert stat.S_IMODE(fallback.stat().st_mode) == 0o700 and len(list(fallback.glob("*.npz"))) == 1
        assert (again.train_x == loaded.train_x).all()


def test_a_planted_cache_folder_is_not_used(tmp_path, monkeypatch):
    """Another user got there first: a symlink in the place of the private folder. The run neither writes through
    it nor reads a cache from it; it decodes without a cache."""
    folder = make_image_folder(tmp_path / "set")
    data_dir = tmp_path / "data"
    data_dir.write_text("a file where a folder should be: no cache can go in it")
    monkeypatch.delenv("VITUI_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(data_dir))  # no home cache either
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    target = tmp_path / "attacker"
    target.mkdir()
    (tmp_path / "tmp" / f"vitui-cache-{os.getuid()}").symlink_to(target)
    loaded = data.load_dataset(f"imagefolder:{folder}", data_dir)
    assert loaded.train_x.shape == (6, 8, 8, 3)
    assert not list(target.iterdir())  # nothing written through the link


@pytest.mark.slow
def test_concurrent_first_decodes_of_one_folder_all_succeed(tmp_path):
    folder = make_image_folder(tmp_path / "set", per_class=40)
    code = ("import sys; from runners import data; "
            "d = data.load_dataset('imagefolder:' + sys.argv[1], sys.argv[2]); print(d.train_x.shape)")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-c", code, str(folder), str(tmp_path / "data")], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0 and "(80, 8, 8, 3)" in out, err
    assert len(list((tmp_path / "data" / "vitui-cache").iterdir())) == 1  # one cache, no temporary leftovers


@pytest.mark.slow
def test_another_users_planted_cache_does_not_reach_this_user(tmp_path):
    """Root plants, in the shared temporary folder, the cache folder name that user nobody would fall back to: a
    symlink to root's folder and, in another try, a folder of root's holding a poisoned cache. A run as nobody (data
    folder not writable for it, no home) neither writes through the link nor trains on the poison."""
    if os.geteuid() != 0:
        pytest.skip("needs root to act as a second user")
    base = Path(tempfile.mkdtemp(dir="/tmp", prefix="vitui-second-user-"))
    try:
        base.chmod(0o755)
        shared_tmp = base / "tmp"
        shared_tmp.mkdir(mode=0o1777)
        shared_tmp.chmod(0o1777)
        folder = make_image_folder(base / "set")
        data_dir = base / "data"  # root's, 0755: read-only for nobody
        data_dir.mkdir()
        victim = base / "victim"
        victim.mkdir()
        planted = shared_tmp / "vitui-cache-65534"
        code = f"""
import os, sys, tempfile, PIL.Image, numpy as np, concurrent.futures.process, multiprocessing.popen_fork
import multiprocessing.queues, multiprocessing.synchronize
from runners import data
PIL.Image.init()
os.setgroups([]); os.setgid(65534); os.setuid(65534)  # everything imported: now user nobody
os.environ["XDG_CACHE_HOME"] = "/nonexistent"
tempfile.tempdir = {str(shared_tmp)!r}
d = data.load_dataset("imagefolder:{folder}", {str(data_dir)!r})
print(d.train_y.tolist(), d.class_names)
"""
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        env.pop("VITUI_DATA", None)
        planted.symlink_to(victim)
        result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert "[0, 0, 0, 1, 1, 1] ['cat', 'dog']" in result.stdout
        assert not list(victim.iterdir())
        planted.unlink()
        planted.mkdir(mode=0o755)  # root's folder under nobody's name, holding a poisoned cache for the folder
        key = data._source_key(folder)
        np.savez(planted / f"imagefolder-set-{key}.npz", x=np.zeros((6, 8, 8, 3), np.uint8),
                 y=np.ones(6, np.int64), classes=np.array(["cat", "dog"]))
        result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert "[0, 0, 0, 1, 1, 1] ['cat', 'dog']" in result.stdout  # decoded, not the poisoned all-ones labels
    finally:
        shutil.rmtree(base, ignore_errors=True)


# --------------------------------------------------------------------------- names files

def test_a_bom_is_not_a_symbol_of_the_vocabulary(tmp_path):
    names = tmp_path / "names.txt"
    names.write_bytes("\ufeffAlpha\nbeta\ngamma\n".encode())
    loaded = load_names(f"names:{names}", None, 0.0, 0)
    assert "\ufeff" not in loaded.vocab and "alpha" in loaded.train


def test_names_longer_than_the_cap_are_skipped_with_a_warning(tmp_path):
    names = tmp_path / "names.txt"
    names.write_text("rex\n" + "a" * 100_000 + "\ntex\nlex\n")
    warnings: list[str] = []
    loaded = load_names(f"names:{names}", None, 0.0, 0, warn=warnings.append, max_name_len=100)
    assert sorted(loaded.train) == ["lex", "rex", "tex"]
    assert len(warnings) == 1 and "skipped 1 line(s) longer than 100 characters" in warnings[0]
    assert "100,000" in warnings[0] and "max_name_len" in warnings[0]
    assert len(load_names(f"names:{names}", None, 0.0, 0, max_name_len=100_000).train) == 4  # settable
    with pytest.raises(DataError, match="every line .* is longer than 2 characters"):
        load_names(f"names:{names}", None, 0.0, 0, max_name_len=2)


def test_the_name_cap_is_a_checked_setting():
    from vitui.core.experiments import resolve
    from vitui.core.errors import ConfigError

    assert resolve("rnn-dinos", {"max_name_len": "40"}).train.max_name_len == 40
    with pytest.raises(ConfigError, match="max_name_len"):
        resolve("rnn-dinos", {"max_name_len": "0"})


# --------------------------------------------------------------------------- the dinos download

class HostileServer:
    """A local HTTP server (a test fake): `drip` sends a byte every 50 ms for ever; `flood` sends an endless body;
    `flood-declared` says so in its Content-Length."""

    def __init__(self, mode: str):
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - the http.server hook name
                self.send_response(200)
                if mode == "flood-declared":
                    self.send_header("Content-Length", str(270_000_000))
                self.end_headers()
                try:
                    while True:
                        if mode == "drip":
                            self.wfile.write(b"a")
                            self.wfile.flush()
                            time.sleep(0.05)
                        else:
                            self.wfile.write(b"a\n" * 32768)
                except OSError:
                    pass  # the client hung up, as it should

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/dinos.txt"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("mode, message", [
    ("drip", "took longer than 1 s"),
    ("flood", "more than the 1,048,576 bytes expected"),
    ("flood-declared", "offers 270,000,000 bytes"),
])
def test_the_dinos_download_has_a_deadline_and_a_size_cap(tmp_path, monkeypatch, mode, message):
    server = HostileServer(mode)
    monkeypatch.delenv("VITUI_OFFLINE", raising=False)
    monkeypatch.setenv("VITUI_DINOS_URL", server.url)
    monkeypatch.setattr(names_data, "DOWNLOAD_DEADLINE_S", 1.0)
    try:
        started = time.monotonic()
        with pytest.raises(DataError, match=message):
            load_names("dinos", tmp_path, 0.1, 0)
        assert time.monotonic() - started < 5
    finally:
        server.close()
    assert not list(tmp_path.iterdir())  # nothing saved, no temporary file


def test_a_server_that_never_answers_is_cut_off_by_the_deadline(tmp_path, monkeypatch):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    monkeypatch.delenv("VITUI_OFFLINE", raising=False)
    monkeypatch.setenv("VITUI_DINOS_URL", f"http://127.0.0.1:{listener.getsockname()[1]}/dinos.txt")
    monkeypatch.setattr(names_data, "DOWNLOAD_DEADLINE_S", 1.0)
    try:
        started = time.monotonic()
        with pytest.raises(DataError, match="download from .* failed"):
            load_names("dinos", tmp_path, 0.1, 0)
        assert time.monotonic() - started < 5
    finally:
        listener.close()
