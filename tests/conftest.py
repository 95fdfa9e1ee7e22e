"""Shared fixtures: offline mode, one torch thread, the test layers, the real data in ../shared/data and small data
sets made from it."""

from __future__ import annotations

import gzip
import inspect
import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import textual.constants

REPO = Path(__file__).resolve().parent.parent
os.environ["VITUI_OFFLINE"] = "1"  # nothing in the suite touches the network
# One thread for torch here and in every worker the tests start (they inherit the environment): on a shared
# 2-core machine a second thread waits on the other jobs and makes a step several times slower.
for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")
# No animations (a scroll or a tab's underline glides for 0.3 s): tests wait on the end state, not the glide.
# Textual reads the variable when it is first imported (pytest-textual-snapshot imports it before this file):
# the environment is for the apps the tests start in a terminal, the constant for the apps started here.
os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")
textual.constants.TEXTUAL_ANIMATIONS = "none"


def pytest_collection_modifyitems(items) -> None:
    """Every test gets its layer: `slow` or `app` as marked, else `app` when it drives the app (a Pilot test run
    through app_fakes.run_async, or a snapshot), else `unit`."""
    for item in items:
        if item.get_closest_marker("slow"):
            # With xdist (-n 2, the default), the slow tests take turns on one worker: two real runs at once on
            # a 2-core machine would slow each other past their timeouts. The fast ones share the other worker.
            item.add_marker(pytest.mark.xdist_group("slow"))
            continue
        if item.get_closest_marker("app"):
            continue
        wrapped = getattr(getattr(item, "function", None), "__wrapped__", None)
        is_app = inspect.iscoroutinefunction(wrapped) or "snap_compare" in getattr(item, "fixturenames", ())
        item.add_marker(pytest.mark.app if is_app else pytest.mark.unit)


def shared_data() -> Path:
    env = os.environ.get("VITUI_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"real data not found at {path} (set VITUI_SHARED_DATA)")
    return path


def write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture(scope="session")
def mnist_small(tmp_path_factory) -> Path:
    """A data folder holding a 1,000/300-image MNIST in the official idx format, cut from the real files."""
    from runners.data import read_idx

    src = require(shared_data() / "mnist")
    root = tmp_path_factory.mktemp("data")
    (root / "mnist").mkdir()
    for stem, count in (("train-images-idx3-ubyte", 1000), ("train-labels-idx1-ubyte", 1000),
                        ("t10k-images-idx3-ubyte", 300), ("t10k-labels-idx1-ubyte", 300)):
        write_idx(root / "mnist" / f"{stem}.gz", read_idx(src / f"{stem}.gz")[:count])
    return root


@pytest.fixture(scope="session")
def cifar_small(tmp_path_factory) -> Path:
    """A .tar.gz image folder of 40 real CIFAR-10 JPEGs per class (train/<class>/<n>.jpg)."""
    src = require(shared_data() / "cifar10-jpeg-train.tar.gz")
    out = tmp_path_factory.mktemp("cifar") / "cifar-small.tar.gz"
    taken: dict[str, int] = {}
    with tarfile.open(src) as tar, tarfile.open(out, "w:gz") as dst:
        for member in tar:
            if not member.isfile():
                continue
            cls = Path(member.name).parent.name
            if taken.get(cls, 0) >= 40:
                continue
            taken[cls] = taken.get(cls, 0) + 1
            data = tar.extractfile(member).read()
            info = tarfile.TarInfo(member.name)
            info.size = len(data)
            dst.addfile(info, io.BytesIO(data))
    return out


def run_vitui(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
    """Run `python -m vitui ...` as a user would, from a clean process."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run([sys.executable, "-m", "vitui", *args], cwd=cwd, env=full_env, capture_output=True,
                          text=True, timeout=timeout)
