"""The native-kernel cache only ever loads a library this user built, intact:
planted code in a shared cache never runs, a truncated library is rebuilt
instead of crashing the process, a killed build leaves no orphan compiler
and its temporaries are cleaned, and an unusable cache is one line."""
import os
import shutil
import signal
import stat
import subprocess
import sys
import time

import pytest

from tf1_wn import cli, native_ops
from helpers import run_python

needs_compiler = pytest.mark.skipif(not native_ops.compiler_available(),
                                    reason="no C++ compiler")


@pytest.fixture(scope="module")
def good_library():
    """A verified build (from the user's cache; built once if needed)."""
    if not native_ops.compiler_available():
        pytest.skip("no C++ compiler")
    path = native_ops.build()
    assert native_ops.verified(path)
    return path


def _planted_library(directory, marker):
    """A real shared library whose constructor writes `marker`: proof that
    code ran if it was ever loaded."""
    source = os.path.join(directory, "evil.c")
    with open(source, "w") as f:
        f.write('#include <stdio.h>\n__attribute__((constructor)) '
                'static void run(void) { FILE *f = fopen("%s", "w"); '
                'if (f) fclose(f); }\n' % marker)
    target = native_ops.library_path(directory)
    subprocess.run(["gcc", "-shared", "-fPIC", source, "-o", target],
                   check=True)
    os.remove(source)
    with open(target + ".sha256", "w") as f:  # even a matching sidecar
        f.write(native_ops._sha256(target) + "\n")
    return target


LOAD = """
    import warnings
    from tf1_wn import native_ops
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = native_ops.library()
    print("loaded" if loaded is not None else "fallback")
    for warning in caught:
        print("warning:", warning.message)
"""


@needs_compiler
@pytest.mark.parametrize("mode", [0o777, 0o775])
def test_planted_code_in_a_shared_cache_never_runs(tmp_path, mode):
    shared = tmp_path / "shared"
    shared.mkdir()
    marker = str(tmp_path / "ran")
    _planted_library(str(shared), marker)
    os.chmod(shared, mode)
    result = run_python(LOAD, TF1_WN_CACHE_DIR=str(shared),
                        TF1_WN_NATIVE_OPS="auto")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "fallback" in result.stdout
    assert "writable by its group or by everyone" in result.stdout
    assert not os.path.exists(marker)
    with pytest.raises(native_ops.NativeOpsError,
                       match=rf"cache dir '{shared}' is writable by its group "
                       rf"or by everyone \(mode {mode:o}\): refusing"):
        native_ops.build(directory=str(shared))


@needs_compiler
@pytest.mark.skipif(os.getuid() != 0, reason="needs root to chown")
def test_a_cache_owned_by_another_user_is_refused(tmp_path):
    other = tmp_path / "other"
    other.mkdir(mode=0o700)
    marker = str(tmp_path / "ran")
    _planted_library(str(other), marker)
    os.chown(other, 65534, 65534)
    result = run_python(LOAD, TF1_WN_CACHE_DIR=str(other))
    assert "fallback" in result.stdout
    assert "belongs to uid 65534" in result.stdout
    assert not os.path.exists(marker)


def test_new_cache_dir_is_private(tmp_path):
    old = os.umask(0)  # under umask 000 too
    try:
        directory = str(tmp_path / "a" / "cache")
        native_ops._private_dir(directory)
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700


@pytest.mark.parametrize("damage", ["truncate", "flip", "no sidecar",
                                    "group writable"])
def test_a_damaged_library_is_rebuilt_not_loaded(tmp_path, good_library,
                                                 damage):
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    target = native_ops.library_path(str(cache))
    shutil.copy(good_library, target)
    shutil.copy(good_library + ".sha256", target + ".sha256")
    assert native_ops.verified(target)
    if damage == "truncate":
        with open(target, "r+b") as f:
            f.truncate(os.path.getsize(target) // 3)
    elif damage == "flip":
        with open(target, "r+b") as f:
            f.seek(4096)
            byte = f.read(1)
            f.seek(4096)
            f.write(bytes([byte[0] ^ 0x01]))
    elif damage == "no sidecar":
        os.remove(target + ".sha256")
    else:
        os.chmod(target, 0o664)
    assert not native_ops.verified(target)
    # The rebuild is stood in for by a copy of the good build (a real one
    # takes 20 s); what matters is that the damaged file is never loaded.
    result = run_python(f"""
        import shutil
        from tf1_wn import native_ops
        def rebuild(path, compiler):
            shutil.copy({good_library!r}, path)
            shutil.copy({good_library!r} + ".sha256", path + ".sha256")
            print("rebuilt")
        native_ops._compile = rebuild
        print("loaded" if native_ops.library() is not None else "fallback")
    """, TF1_WN_CACHE_DIR=str(cache), TF1_WN_NATIVE_OPS="on")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["rebuilt", "loaded"]
    assert native_ops.verified(target)


def test_stale_temporaries_of_dead_builds_are_removed(tmp_path,
                                                      monkeypatch):
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    target = native_ops.library_path(str(cache))
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = [f"{target}.{dead.pid}.7.tmp", f"{target}.{dead.pid}.7.tmp.0.o",
             f"{target}.{dead.pid}.7.tmp.sha256"]
    live = f"{target}.{os.getpid()}.7.tmp.1.o"
    for path in stale + [live]:
        open(path, "w").close()
    monkeypatch.setattr(native_ops, "compiler_available", lambda: True)
    monkeypatch.setattr(native_ops, "_compile", lambda path, compiler: None)
    native_ops.build(directory=str(cache))
    assert sorted(os.listdir(cache)) == [os.path.basename(live)]


def test_a_killed_build_leaves_no_orphan_compiler(tmp_path):
    compiler = tmp_path / "slow-cxx"
    pids = tmp_path / "pids"
    compiler.write_text(f"#!/bin/sh\necho $$ >> {pids}\nexec sleep 60\n")
    compiler.chmod(0o755)
    builder = subprocess.Popen(
        [sys.executable, "-c", "from tf1_wn import native_ops; "
         f"native_ops.build(directory={str(tmp_path / 'cache')!r})"],
        env=dict(os.environ, CXX=str(compiler), TF_CPP_MIN_LOG_LEVEL="3"))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (
            not pids.exists() or len(pids.read_text().split()) < 2):
        time.sleep(0.1)
    children = [int(pid) for pid in pids.read_text().split()]
    builder.send_signal(signal.SIGKILL)
    builder.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(
            _alive(pid) for pid in children):
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in children)


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_an_unusable_cache_dir_is_one_line(capsys):
    assert cli.main(["build-native", "--dir", "/proc/tf1-wn-cache"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("tf1-wn: error: cache dir '/proc/tf1-wn-cache' "
                          "cannot be created")
    assert len(err.splitlines()) == 1
