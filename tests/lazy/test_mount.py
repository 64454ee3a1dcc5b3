"""``obd mount``: files through FUSE, and the raw disk loop-mounted by the kernel."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from overlaybd_py.lazy.mount import fuse_problem

from .conftest import Pushed

MOUNT_WAIT = 20.0
EXIT_WAIT = 15.0

pytestmark = pytest.mark.skipif(fuse_problem() is not None, reason=f"FUSE: {fuse_problem()}")


@contextlib.contextmanager
def obd_mount(
    pushed: Pushed, mountpoint: Path, cache: Path, *extra: str
) -> Iterator[subprocess.Popen[bytes]]:
    mountpoint.mkdir()
    args = ["obd", "mount", "--plain-http", "--cache-dir", str(cache), *extra]
    proc = subprocess.Popen(
        [*args, pushed.converted, str(mountpoint)], stderr=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + MOUNT_WAIT
        while not os.path.ismount(mountpoint):
            if proc.poll() is not None:
                pytest.skip(f"FUSE mount failed here: {proc.stderr.read().decode()[-300:]}")  # type: ignore[union-attr]
            if time.monotonic() > deadline:
                pytest.fail(f"{mountpoint} not mounted after {MOUNT_WAIT}s")
            time.sleep(0.05)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(EXIT_WAIT)
            except subprocess.TimeoutExpired:
                subprocess.run(["fusermount3", "-u", "-z", str(mountpoint)], check=False)
                proc.kill()
                proc.wait(EXIT_WAIT)


def stop(proc: subprocess.Popen[bytes], mountpoint: Path, sig: int) -> None:
    proc.send_signal(sig)
    assert proc.wait(EXIT_WAIT) == 0, proc.stderr.read().decode()  # type: ignore[union-attr]
    assert not os.path.ismount(mountpoint)


def test_files_through_the_mount_equal_the_source(
    pushed: Pushed, tmp_path: Path, files: dict[str, bytes]
) -> None:
    mountpoint = tmp_path / "mnt"
    with obd_mount(pushed, mountpoint, tmp_path / "cache") as proc:
        for path, content in files.items():
            assert (mountpoint / path.lstrip("/")).read_bytes() == content, path
        assert sorted(os.listdir(mountpoint)) == ["bin", "etc", "lost+found", "opt", "usr"]
        assert os.readlink(mountpoint / "bin") == "usr/bin"
        assert (mountpoint / "bin" / "app").stat().st_mode & 0o777 == 0o755
        with pytest.raises(OSError) as caught:
            (mountpoint / "etc" / "motd").open("ab")
        assert caught.value.errno in (errno.EROFS, errno.EACCES)
        stop(proc, mountpoint, signal.SIGTERM)
        announced = proc.stderr.read().decode()  # type: ignore[union-attr]
        assert f"mounted at {mountpoint}; Ctrl-C to unmount" in announced


def test_raw_disk_loop_mounts_as_ext4(
    pushed: Pushed, tmp_path: Path, files: dict[str, bytes]
) -> None:
    mountpoint = tmp_path / "raw"
    loop_dir = tmp_path / "loop"
    loop_dir.mkdir()
    with obd_mount(pushed, mountpoint, tmp_path / "cache", "--raw") as proc:
        disk = mountpoint / "disk.img"
        assert disk.stat().st_size > 0
        with disk.open("rb") as handle:
            handle.seek(1024 + 56)
            assert handle.read(2) == b"\x53\xef"  # the ext4 superblock magic
        done = subprocess.run(
            ["mount", "-o", "loop,ro", "-t", "ext4", str(disk), str(loop_dir)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            stop(proc, mountpoint, signal.SIGINT)
            pytest.skip(f"loop mounts are not allowed here: {done.stderr.strip()}")
        try:
            for path, content in files.items():
                assert (loop_dir / path.lstrip("/")).read_bytes() == content, path
        finally:
            subprocess.run(["umount", str(loop_dir)], check=True)
        stop(proc, mountpoint, signal.SIGINT)
