"""Tests of the name lists: dinos.txt from the data folder or a checksummed download, names:PATH, the split."""

from __future__ import annotations

import http.server
import shutil
import socket
import threading

import pytest

from conftest import shared_data
from runners import names_data
from runners.names_data import DINOS_SHA256, load_names, sha256
from vitui.core.errors import ConfigError, DataError
from vitui.core.settings import check_dataset_name

COURSE_FILE = shared_data() / "dinos.txt"
needs_course_file = pytest.mark.skipif(not COURSE_FILE.is_file(), reason="the course's dinos.txt is not on this machine")


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("VITUI_OFFLINE", "1")
    monkeypatch.delenv("VITUI_DINOS_URL", raising=False)


class FakeDinosServer:
    """A local HTTP server (a test fake) that answers every GET with the given bytes."""

    def __init__(self, payload: bytes):
        payload_ = payload

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - the http.server hook name
                self.send_response(200)
                self.send_header("Content-Length", str(len(payload_)))
                self.end_headers()
                self.wfile.write(payload_)

            def log_message(self, *args):
                pass

        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/dinos.txt"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def allow_download(monkeypatch, url: str) -> None:
    monkeypatch.delenv("VITUI_OFFLINE")
    monkeypatch.setenv("VITUI_DINOS_URL", url)


@needs_course_file
def test_dinos_from_the_data_folder(tmp_path):
    shutil.copy(COURSE_FILE, tmp_path / "dinos.txt")
    data = load_names("dinos", tmp_path, 0.1, seed=0)
    assert data.vocab == ["\n", *"abcdefghijklmnopqrstuvwxyz"]
    assert len(data.train) + len(data.val) == 1543
    assert all(name == name.lower() and name for name in data.train + data.val)
    assert not set(data.train) & set(data.val)  # a held-out name never appears in training
    assert len(set(data.val)) == round(1530 * 0.1)
    again = load_names("dinos", tmp_path, 0.1, seed=0)
    assert again.val == data.val and load_names("dinos", tmp_path, 0.1, seed=1).val != data.val


@needs_course_file
def test_download_of_the_good_file_is_checked_and_kept(tmp_path, monkeypatch):
    with FakeDinosServer(COURSE_FILE.read_bytes()) as server:
        allow_download(monkeypatch, server.url)
        data = load_names("dinos", tmp_path / "cache", 0.0, seed=0)
    assert len(data.train) == 1543 and len(data.vocab) == 27
    assert sha256((tmp_path / "cache" / "dinos.txt").read_bytes()) == DINOS_SHA256
    # The second load reads the saved file: no server needed any more.
    assert load_names("dinos", tmp_path / "cache", 0.0, seed=0).train == data.train


def test_download_with_a_wrong_checksum_saves_nothing(tmp_path, monkeypatch):
    with FakeDinosServer(b"Aachenosaurus\nAardonyx\n") as server:
        allow_download(monkeypatch, server.url)
        with pytest.raises(DataError, match="SHA-256"):
            load_names("dinos", tmp_path, 0.0, seed=0)
    assert list(tmp_path.iterdir()) == []


def test_download_from_a_server_that_is_down(tmp_path, monkeypatch):
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there now
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    allow_download(monkeypatch, f"http://127.0.0.1:{port}/dinos.txt")
    with pytest.raises(DataError, match="download .* failed") as info:
        load_names("dinos", tmp_path, 0.0, seed=0)
    assert "--data-dir" in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "dinos.txt").exists()


def test_offline_says_where_it_looked(tmp_path):
    with pytest.raises(DataError, match="VITUI_OFFLINE") as info:
        load_names("dinos", tmp_path, 0.0, seed=0)
    assert str(tmp_path / "dinos.txt") in str(info.value)


def test_the_pinned_url_is_a_commit_pinned_raw_address():
    assert names_data.DINOS_URL.startswith("https://raw.githubusercontent.com/")
    assert names_data.dinos_url() == names_data.DINOS_URL


def test_names_file_builds_its_own_vocabulary(tmp_path):
    path = tmp_path / "pokemon.txt"
    path.write_text("Pikachu\n\n  Mr. Mime  \nHo-Oh\n")
    data = load_names(f"names:{path}", None, 0.0, seed=0)
    assert data.train == ["pikachu", "mr. mime", "ho-oh"]
    assert data.vocab[0] == "\n" and set(data.vocab[1:]) == set("pikachumr. ime-o")
    assert data.decode(data.encode("mr. mime")) == "mr. mime"


@pytest.mark.parametrize("content", ["", "\n\n   \n"])
def test_names_file_without_names_is_a_clear_error(tmp_path, content):
    path = tmp_path / "names.txt"
    path.write_text(content)
    with pytest.raises(DataError, match="has no names"):
        load_names(f"names:{path}", None, 0.1, seed=0)


def test_dataset_names_depend_on_the_task(tmp_path):
    check_dataset_name("dinos", images=False)
    (tmp_path / "n.txt").write_text("a\n")
    check_dataset_name(f"names:{tmp_path / 'n.txt'}", images=False)
    with pytest.raises(DataError, match="not a file"):
        check_dataset_name(f"names:{tmp_path / 'missing.txt'}", images=False)
    with pytest.raises(ConfigError, match="dinos or names:PATH"):
        check_dataset_name("mnist", images=False)
    with pytest.raises(ConfigError, match="imagefolder"):
        check_dataset_name("dinos", images=True)
    check_dataset_name("mnist", images=True)
