"""Data sets: idx files, image folders and archives, caching, and the download path on a local server."""

import functools
import http.server
import shutil
import socket
import tarfile
import threading

import numpy as np
import pytest
from PIL import Image

from conftest import require, shared_data, write_idx
from runners import data
from vitui.core.errors import DataError


def make_image_folder(root, classes=("cat", "dog"), per_class=3, size=8, grey=False):
    rng = np.random.default_rng(0)
    for cls in classes:
        (root / "train" / cls).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
            if grey:
                pixels[..., 1] = pixels[..., 2] = pixels[..., 0]
            Image.fromarray(pixels).save(root / "train" / cls / f"{i}.png")
    return root


def test_image_folder_and_its_archive_decode_alike_and_cache(tmp_path):
    folder = make_image_folder(tmp_path / "src")
    with tarfile.open(tmp_path / "set.tar.gz", "w:gz") as tar:
        tar.add(folder / "train", arcname="train")
    a = data.load_dataset(f"imagefolder:{folder}", tmp_path / "cache")
    b = data.load_dataset(f"imagefolder:{tmp_path / 'set.tar.gz'}", tmp_path / "cache")
    assert a.class_names == b.class_names == ["cat", "dog"]
    assert a.train_x.shape == (6, 8, 8, 3) and a.train_x.dtype == np.uint8 and a.test_x is None
    assert (a.train_x == b.train_x).all() and a.train_y.tolist() == [0, 0, 0, 1, 1, 1]
    assert len(list((tmp_path / "cache" / "vitui-cache").glob("*.npz"))) == 2
    again = data.load_dataset(f"imagefolder:{folder}", tmp_path / "cache")
    assert (again.train_x == a.train_x).all()


def test_grey_image_folder_keeps_one_channel(tmp_path):
    folder = make_image_folder(tmp_path / "src", grey=True)
    assert data.load_dataset(f"imagefolder:{folder}", tmp_path).train_x.shape == (6, 8, 8, 1)


@pytest.mark.parametrize("setup, message", [
    (lambda p: (p / "one" / "only").mkdir(parents=True), "one subfolder of images per class"),
    (lambda p: [(p / "one" / c).mkdir(parents=True) for c in "ab"], "no images found"),
])
def test_bad_image_folders_say_what_is_expected(tmp_path, setup, message):
    setup(tmp_path)
    with pytest.raises(DataError, match=message):
        data.load_dataset(f"imagefolder:{tmp_path / 'one'}", tmp_path)


def test_corrupt_archive_is_a_clear_error(tmp_path):
    (tmp_path / "bad.tar.gz").write_bytes(b"not a tar")
    with pytest.raises(DataError, match="cannot unpack"):
        data.load_dataset(f"imagefolder:{tmp_path / 'bad.tar.gz'}", tmp_path)


def test_idx_reader_rejects_truncated_and_foreign_files(tmp_path):
    write_idx(tmp_path / "ok.gz", np.arange(24).reshape(2, 3, 4))
    assert data.read_idx(tmp_path / "ok.gz").shape == (2, 3, 4)
    (tmp_path / "junk").write_bytes(b"\x89PNG....")
    with pytest.raises(DataError, match="bad magic"):
        data.read_idx(tmp_path / "junk")
    (tmp_path / "short").write_bytes(bytes([0, 0, 8, 1]) + (100).to_bytes(4, "big") + b"abc")
    with pytest.raises(DataError, match="truncated"):
        data.read_idx(tmp_path / "short")


def test_real_mnist_from_the_shared_folder():
    mnist = data.load_dataset("mnist", require(shared_data()))
    assert mnist.train_x.shape == (60000, 28, 28, 1) and mnist.test_x.shape == (10000, 28, 28, 1)
    assert np.bincount(mnist.test_y).tolist()[:3] == [980, 1135, 1032]


def test_split_is_stratified_seeded_and_disjoint():
    y = np.repeat(np.arange(4), 25)
    source = data.ImageData("t", np.arange(100).reshape(100, 1, 1, 1).astype(np.uint8), y, None, None, list("abcd"))
    one, two = data.split(source, 0.2, seed=5), data.split(source, 0.2, seed=5)
    assert np.bincount(one.val_y).tolist() == [5, 5, 5, 5]
    assert (one.val_x == two.val_x).all() and one.test_name == "val"
    assert not set(one.val_x.ravel()) & set(one.train_x.ravel())
    with pytest.raises(DataError, match="val_fraction"):
        data.split(source, 0.0, seed=0)


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """An HTTP server on 127.0.0.1 serving a folder, used as the MNIST mirror."""
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("VITUI_OFFLINE", "0")
    monkeypatch.setenv("VITUI_MIRROR", f"http://127.0.0.1:{server.server_port}/")
    yield served
    server.shutdown()
    server.server_close()


def test_download_checks_and_reads_the_files(mirror, tmp_path):
    for path in require(shared_data() / "mnist").glob("*.gz"):
        shutil.copy(path, mirror)
    mnist = data.load_dataset("mnist", tmp_path / "data")
    assert mnist.train_x.shape == (60000, 28, 28, 1)
    assert (tmp_path / "data" / "MNIST" / "raw" / "train-images-idx3-ubyte").is_file()


def test_download_with_a_wrong_checksum_fails_clearly(mirror, tmp_path):
    for path in require(shared_data() / "mnist").glob("*.gz"):
        (mirror / path.name).write_bytes(path.read_bytes()[:-10] + b"corrupted!")
    with pytest.raises(DataError, match="data set mnist not found.*download failed"):
        data.load_dataset("mnist", tmp_path / "data")


def test_download_with_the_server_down_fails_clearly(tmp_path, monkeypatch):
    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("VITUI_OFFLINE", "0")
    monkeypatch.setenv("VITUI_MIRROR", f"http://127.0.0.1:{port}/")
    with pytest.raises(DataError, match="download failed.*--data-dir"):
        data.load_dataset("mnist", tmp_path / "data")


def test_offline_mode_never_downloads(tmp_path):
    with pytest.raises(DataError, match="downloads are off"):
        data.load_dataset("cifar10", tmp_path)
