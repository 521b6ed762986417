"""Every published vector file is intact and is read by some test of ours.

The vector tests themselves count their cases; this file makes sure no vector file is
silently left out and that none was edited (SHA256SUMS is published with them).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from tests.conftest import ROOT, vector_path


def listed_files() -> list[tuple[str, str]]:
    sums = vector_path("SHA256SUMS").read_text().splitlines()
    rows = []
    for line in sums:
        digest, name = line.split(maxsplit=1)
        rows.append((digest, name.removeprefix("./")))
    return rows


def test_vector_files_match_published_checksums() -> None:
    rows = listed_files()
    assert len(rows) == 22
    for digest, name in rows:
        data = vector_path(*name.split("/")).read_bytes()
        assert hashlib.sha256(data).hexdigest() == digest, f"{name} differs from SHA256SUMS"


def test_every_vector_file_is_used_by_a_test() -> None:
    sources = "\n".join(
        p.read_text() for p in (ROOT / "tests").rglob("test_*.py") if p.name != Path(__file__).name
    )
    unused = [name for _, name in listed_files() if Path(name).name not in sources]
    assert not unused, f"vector files no test reads: {unused}"
