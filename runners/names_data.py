"""Provides name lists for character models: the course's dinosaur names (local or downloaded, checksummed) or names:PATH.

A name list becomes lower-cased names, a vocabulary (newline first: it ends every name, and also
starts one for the batched models) and a held-out part of distinct names fixed by the seed.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from runners.data import default_data_dir, offline
from vitui.core.errors import DataError
from vitui.core.settings import NAMES, split_dataset

NEWLINE = "\n"
DINOS_FILE = "dinos.txt"
# SHA-256 of the course's dinos.txt (1,543 lines, 19,913 bytes; some public copies differ by a few joined lines).
DINOS_SHA256 = "0704eb65c34137226ad13023cfaa77edf70222aaaf3e2a926b9b791a25b025f6"
# A public copy with exactly those bytes, pinned to a commit so it cannot change under us.
DINOS_URL = ("https://raw.githubusercontent.com/vbvsharma/text-generation-with-an-rnn/"
             "e03a51258d44659921316e4e68a5b7dac2ef1e45/dinos.txt")
DOWNLOAD_TIMEOUT_S = 20  # the most one read of the download may wait
DOWNLOAD_DEADLINE_S = 60  # the most the whole download may take: a server that drips bytes is cut off
DOWNLOAD_LIMIT = 1 << 20  # bytes: the file is 19,913; a server sending more is refused before it fills memory
BOM = "\ufeff"  # a UTF-8 byte order mark, which some editors write first: not a character of the first name


@dataclass
class NamesData:
    """Names split into training and held-out lists, with the vocabulary that encodes them."""

    name: str
    vocab: list[str]  # index -> character; vocab[0] is the newline
    train: list[str]
    val: list[str]
    stoi: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.stoi = {ch: i for i, ch in enumerate(self.vocab)}

    def encode(self, name: str) -> list[int]:
        return [self.stoi[ch] for ch in name]

    def decode(self, indices: list[int]) -> str:
        return "".join(self.vocab[i] for i in indices)


def dinos_url() -> str:
    """Where dinos.txt is downloaded from: $VITUI_DINOS_URL (a mirror, or a local server in tests), else the pin."""
    return os.environ.get("VITUI_DINOS_URL") or DINOS_URL


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_names(text: str) -> list[str]:
    """One name per line, lower-cased, surrounding spaces dropped, blank lines skipped."""
    return [line.strip().lower() for line in text.splitlines() if line.strip()]


def build_vocab(names: list[str]) -> list[str]:
    return [NEWLINE] + sorted({ch for name in names for ch in name})


def split_names(names: list[str], val_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Hold out a share of the distinct names (a repeated name never sits on both sides)."""
    distinct = sorted(set(names))
    rng = np.random.default_rng(seed)
    n_val = int(round(len(distinct) * val_fraction))
    held = {distinct[i] for i in rng.permutation(len(distinct))[:n_val]}
    train = [n for n in names if n not in held]
    val = [n for n in names if n in held]
    return train, val


def load_names(dataset: str, data_dir: Path | None, val_fraction: float, seed: int,
               warn=lambda message: None, max_name_len: int = 100) -> NamesData:
    """The names of `dinos` or `names:PATH`, split and encoded; DataError with a fix when that fails. Names longer
    than `max_name_len` are skipped with a warning."""
    kind, path = split_dataset(dataset)
    if kind == "dinos":
        raw, where = _dinos_bytes(Path(data_dir) if data_dir else default_data_dir(), warn)
    elif kind == NAMES and path:
        where = Path(path).expanduser()
        try:
            raw = where.read_bytes()
        except OSError as exc:
            raise DataError(f"data set {dataset}: cannot read {where} ({exc.strerror}); "
                            f"give a text file with one name per line") from None
    else:
        raise DataError(f"unknown dataset {dataset!r} for a character model; use dinos or names:PATH")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise DataError(f"data set {dataset}: {where} is not UTF-8 text; give a text file with one name per line") from None
    names = read_names(text.removeprefix(BOM))
    if not names:
        raise DataError(f"data set {dataset}: {where} has no names (it is empty or only blank lines); "
                        f"give a text file with one name per line")
    long = [name for name in names if len(name) > max_name_len]
    if long:
        names = [name for name in names if len(name) <= max_name_len]
        if not names:
            raise DataError(f"data set {dataset}: every line of {where} is longer than {max_name_len} characters "
                            f"(max_name_len); give one name per line, or raise max_name_len")
        warn(f"{where}: skipped {len(long)} line(s) longer than {max_name_len} characters (the longest has "
             f"{max(map(len, long)):,}); raise max_name_len to keep them")
    train, val = split_names(names, val_fraction, seed)
    if not train:
        raise DataError(f"data set {dataset}: all {len(names)} names were held out; lower val_fraction")
    return NamesData(dataset, build_vocab(names), train, val)


# --------------------------------------------------------------------------- the course's dinosaur names

def _dinos_bytes(data_dir: Path, warn) -> tuple[bytes, Path]:
    path = data_dir / DINOS_FILE
    if path.is_file():
        raw = path.read_bytes()
        if sha256(raw) != DINOS_SHA256:
            # The user's own copy is theirs to use, but figures will not match the course's.
            warn(f"{path} differs from the course's dinos.txt (SHA-256 mismatch); training on it anyway")
        return raw, path
    return download_dinos(path, warn), path


def download_dinos(path: Path, warn=lambda message: None) -> bytes:
    """Fetch dinos.txt, check its SHA-256, then store it at `path` (never a half or wrong file)."""
    url = dinos_url()
    hint = f"download {DINOS_URL} yourself and put it at {path}, or pass --data-dir to a folder holding {DINOS_FILE}"
    if offline():
        raise DataError(f"data set dinos not found at {path} and downloads are off (VITUI_OFFLINE); {hint}")
    try:
        raw = fetch(url, DOWNLOAD_LIMIT, DOWNLOAD_DEADLINE_S)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise DataError(f"data set dinos not found at {path} and the download from {url} failed ({reason}); {hint}") from None
    digest = sha256(raw)
    if digest != DINOS_SHA256:
        raise DataError(f"data set dinos: the file from {url} has SHA-256 {digest[:12]}..., not the course file's "
                        f"{DINOS_SHA256[:12]}...; nothing was saved; {hint}")
    tmp = ""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{DINOS_FILE}.")
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
        os.replace(tmp, path)
    except OSError as exc:
        if tmp:
            Path(tmp).unlink(missing_ok=True)  # a full disk: no half file left behind
        # The names are in memory and verified: train on them, and say why the next run downloads again.
        warn(f"downloaded dinos.txt but could not save it to {path} ({exc.strerror}); "
             f"pass --data-dir to a writable folder to keep it")
    return raw


def fetch(url: str, limit: int, deadline_s: float) -> bytes:
    """The body at `url`, read in pieces as they come: ValueError once it passes `limit` bytes (however its header
    put it) or the whole takes longer than `deadline_s` (a server dripping a byte at a time never times out a read)."""
    deadline = time.monotonic() + deadline_s
    with urllib.request.urlopen(url, timeout=min(DOWNLOAD_TIMEOUT_S, deadline_s)) as response:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            raise ValueError(f"the server offers {int(declared):,} bytes, more than the {limit:,} expected")
        chunks, size = [], 0
        while piece := response.read1(65536):
            size += len(piece)
            if size > limit:
                raise ValueError(f"the server sent more than the {limit:,} bytes expected")
            if time.monotonic() > deadline:
                raise ValueError(f"it took longer than {deadline_s:g} s")
            chunks.append(piece)
    return b"".join(chunks)
