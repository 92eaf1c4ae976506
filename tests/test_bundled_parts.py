"""A bundled model split across several packages (the optional `qwen0.5b`): its parts are joined
once into one file under the cache and checked against the pinned sha256; a missing part or a
wrong byte is a one-line error naming the install command, and a name check does no joining.
The parts here are fake packages in a temp folder (the real ones are 478 MB and optional)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

import labelmix.models.loading as loading
from labelmix.errors import ConfigError
from labelmix.models.loading import BUNDLED, Bundled, check_model_name, needs_conversion

PARTS = [b"GGUF" + b"a" * 1000, b"b" * 700, b"c" * 5]


@pytest.fixture
def parted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Bundled:
    monkeypatch.setenv("LABELMIX_CACHE_DIR", str(tmp_path / "cache"))
    entries = []
    for i, data in enumerate(PARTS, start=1):
        pkg = tmp_path / "site" / f"fake_part{i}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "data" / f"part{i}.bin").write_bytes(data)
        monkeypatch.setitem(loading._PACKAGE_DIRS, f"fake_part{i}", pkg)
        entries.append((f"fake_part{i}", f"data/part{i}.bin"))
    b = Bundled(
        "fake_part1",
        "data/part1.bin",
        "a fake model in three parts",
        parts=tuple(entries),
        sha256=hashlib.sha256(b"".join(PARTS)).hexdigest(),
        optional=True,
        install=BUNDLED["qwen0.5b"].install,  # the errors name how to install the parts
    )
    monkeypatch.setitem(BUNDLED, "fake", b)
    return b


def test_parts_are_joined_once_in_order_and_checked(parted: Bundled) -> None:
    assert needs_conversion("fake")  # not joined yet
    check_model_name("fake")  # a name check joins nothing
    assert not (loading.cache_dir() / "assembled").exists()
    path = loading.bundled_path("fake")
    assert path.read_bytes() == b"".join(PARTS)
    assert path.suffix == ".gguf"
    mtime = path.stat().st_mtime_ns
    assert loading.bundled_path("fake") == path and path.stat().st_mtime_ns == mtime
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left


def test_a_wrong_part_fails_with_the_install_command_and_leaves_nothing(
    parted: Bundled, tmp_path: Path
) -> None:
    (tmp_path / "site" / "fake_part2" / "data" / "part2.bin").write_bytes(b"x" * 700)
    with pytest.raises(ConfigError, match=r"not the pinned .*make qwen"):
        loading.bundled_path("fake")
    assert list((loading.cache_dir() / "assembled").iterdir()) == []


def test_a_missing_part_is_named(parted: Bundled, tmp_path: Path) -> None:
    (tmp_path / "site" / "fake_part3" / "data" / "part3.bin").unlink()
    for check in (check_model_name, loading.bundled_path):
        with pytest.raises(ConfigError, match=r"fake-part3 \(one of its 3 parts\).*make qwen"):
            check("fake")
    assert not needs_conversion("fake")  # resolving fails with the error above instead


def test_the_optional_qwen_is_pinned_and_never_a_default() -> None:
    qwen = BUNDLED["qwen0.5b"]
    assert qwen.optional and len(qwen.parts) == 6 and len(qwen.sha256) == 64
    pins = Path(__file__).parents[1] / "requirements-qwen.txt"
    lines = [ln for ln in pins.read_text().splitlines() if ln and not ln.startswith("#")]
    assert len(lines) == 6 and all("--hash=sha256:" in ln for ln in lines)
    weights = (Path(__file__).parents[1] / "requirements-weights.txt").read_text()
    assert "pandas-sns" not in weights
