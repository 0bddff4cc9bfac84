"""``paths.write_private`` from many threads at once (``ls`` asks where each target's master
landed in a thread per target; two targets behind one login master write one note)."""

from __future__ import annotations

import stat
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from hoplab.paths import write_private

if TYPE_CHECKING:
    from pathlib import Path


def test_writers_at_once_each_finish_and_leave_one_private_file(tmp_path: Path) -> None:
    note = tmp_path / "note.host"
    start = threading.Barrier(8, timeout=10)

    def write(n: int) -> None:
        start.wait()
        for _ in range(50):
            write_private(note, f"{n} login01\n")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, range(8)))  # a writer that failed raises here
    assert note.read_text().endswith(" login01\n")
    assert stat.S_IMODE(note.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["note.host"]
