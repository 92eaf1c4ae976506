"""A sweep's prefetch converts a GGUF strong model in a child process while the weak model
works (a thread would share torch's default dtype with the main thread); nothing is started
when there is nothing to convert."""

from __future__ import annotations

from pathlib import Path

import pytest

from labelmix.models.loading import gguf_cache_folder, needs_conversion
from labelmix.prefetch import _start_conversion


def test_needs_conversion_only_for_a_gguf_file_not_yet_converted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_llama: Path
) -> None:
    monkeypatch.setenv("LABELMIX_CACHE_DIR", str(tmp_path / "cache"))
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF")
    assert needs_conversion(str(gguf))
    target = gguf_cache_folder(gguf.resolve())
    target.mkdir(parents=True)
    (target / "config.json").write_text("{}")
    assert not needs_conversion(str(gguf))
    assert not needs_conversion(str(tiny_llama))  # a plain folder
    assert not needs_conversion(str(tmp_path / "missing.gguf"))
    assert not needs_conversion("owner/hub-model")


def test_a_child_converts_and_nothing_starts_without_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_llama: Path
) -> None:
    monkeypatch.setenv("LABELMIX_CACHE_DIR", str(tmp_path / "cache"))
    assert _start_conversion([str(tiny_llama), "minilm"]) is None
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"not a gguf file")
    child = _start_conversion([str(broken)])
    assert child is not None
    assert child.wait(timeout=120) != 0  # it fails on its own; the runs report it
    assert needs_conversion(str(broken))
