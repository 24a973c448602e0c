"""Atomic writes: no truncated files, no stranded temp files, exclusive creation."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from monai_gan_aug.utils import atomic
from monai_gan_aug.utils.atomic import atomic_write, atomic_write_bytes, clean_stale_temp_files


def _temps(folder):
    return sorted(p.name for p in folder.iterdir() if ".tmp" in p.name)


def test_a_killed_writer_s_temp_file_is_removed_by_the_next_write_into_the_folder(tmp_path):
    # a real process killed (SIGKILL) in the middle of an atomic write strands its temp file
    code = (
        "import os, signal, sys; from monai_gan_aug.utils.atomic import atomic_write\n"
        f"with atomic_write({str(tmp_path / 'out.png')!r}) as tmp:\n"
        "    tmp.write_bytes(b'half')\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True)
    assert proc.returncode != 0
    stranded = _temps(tmp_path)
    assert len(stranded) == 1 and not (tmp_path / "out.png").exists()
    # a file of a writer that is still running (this process) and unrelated hidden files stay
    mine = tmp_path / f".other.{atomic._HOST}-{os.getpid()}-abcdefgh.tmp.png"
    mine.write_bytes(b"in progress")
    unrelated = tmp_path / ".keep.tmp"
    unrelated.write_bytes(b"not ours")
    atomic._cleaned.discard(str(tmp_path))
    atomic_write_bytes(tmp_path / "next.bin", b"data")
    assert _temps(tmp_path) == sorted([mine.name, unrelated.name])
    assert (tmp_path / "next.bin").read_bytes() == b"data"


def test_old_temp_files_of_any_host_or_the_older_name_form_are_stale(tmp_path):
    old_form = tmp_path / ".out.k2j4h5g6.tmp.png"  # written before temp names carried host and pid
    other_host = tmp_path / ".out.0badc0de-123-abcdefgh.tmp.png"
    fresh = tmp_path / ".out.x2j4h5g6.tmp.png"
    for p in (old_form, other_host, fresh):
        p.write_bytes(b"x")
    day_ago = time.time() - atomic.STALE_AGE - 10
    for p in (old_form, other_host):
        os.utime(p, (day_ago, day_ago))
    removed = clean_stale_temp_files(tmp_path)
    assert sorted(p.name for p in removed) == sorted([old_form.name, other_host.name])
    assert _temps(tmp_path) == [fresh.name]


def test_exclusive_write_never_replaces_a_file_created_meanwhile(tmp_path):
    target = tmp_path / "out.png"
    with pytest.raises(FileExistsError):
        with atomic_write(target, exclusive=True) as tmp:
            tmp.write_bytes(b"second run")
            target.write_bytes(b"first run")  # another process finished first
    assert target.read_bytes() == b"first run" and _temps(tmp_path) == []
    new = tmp_path / "new.png"
    with atomic_write(new, exclusive=True) as tmp:
        tmp.write_bytes(b"ok")
    assert new.read_bytes() == b"ok" and _temps(tmp_path) == []
