"""The Dockerfile's steps, performed without a Docker engine in a clean temporary directory.

The builder stage: its COPY instructions lay the build context out, its `maturin build` RUN
makes the wheel (with CARGO_TARGET_DIR on the repository's target/, so Rust is not rebuilt from
scratch). The runtime stage: its venv RUN installs the wheel into a fresh virtual environment
(with a Python 3.11 interpreter outside /root, as the image's), its COPY puts the config in
place, and its ENTRYPOINT + CMD run with its ENV as its USER (uid 10001) in a fresh network
namespace, where its HEALTHCHECK command must pass, /ready and a mock chat completion answer,
and SIGTERM must end the process with exit code 0.

Paths the Dockerfile names (/opt/pllm, /etc/pllm, /var/lib/pllm, /wheels, /src) are mapped into
the temporary directory; that mapping, the interpreter and pip's download cache are the only
differences from a `docker build`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.dockerfile import ROOT, Stage, exec_form, parse

MATURIN = ROOT / ".venv" / "bin" / "maturin"
BUILD_PYTHON = ROOT / ".venv" / "bin" / "python"
IMAGE_PATHS = ("/opt/pllm", "/etc/pllm", "/var/lib/pllm", "/wheels", "/src")


def _stages() -> tuple[Stage, Stage]:
    _, stages = parse()
    assert len(stages) == 2, "a builder stage and a runtime stage"
    build, runtime = stages
    assert build.name == "build" and runtime.name == "runtime"
    return build, runtime


def test_dockerfile_shape() -> None:
    global_args, _ = parse()
    build, runtime = _stages()
    assert build.image == runtime.image == "${PYTHON_IMAGE}"
    assert re.fullmatch(r"python:3\.11[.\d]*-slim-\w+", global_args["PYTHON_IMAGE"])
    assert runtime.all("USER") == ["10001:10001"], "a numeric non-root user"
    assert runtime.all("EXPOSE") == ["8080 8081 9090"]
    assert runtime.all("STOPSIGNAL") == ["SIGTERM"]
    assert exec_form(runtime.all("ENTRYPOINT")[0]) == ["pllm"]
    assert exec_form(runtime.all("CMD")[0]) == ["serve"]
    env = runtime.env()
    assert env["PLLM_CONFIG"] == "/etc/pllm/config.yaml"
    assert env["PLLM_DATA_DIR"] == "/var/lib/pllm"
    assert env["PATH"].startswith("/opt/pllm/bin:")
    assert any(copy.endswith("/etc/pllm/config.yaml") for copy in runtime.all("COPY"))
    assert "/health" in _healthcheck(runtime)[-1]
    assert any("Rust" in line or "rust-version" in line for line in _comments())


def _comments() -> list[str]:
    return [ln for ln in (ROOT / "Dockerfile").read_text().splitlines() if ln.startswith("#")]


def _healthcheck(runtime: Stage) -> list[str]:
    (args,) = runtime.all("HEALTHCHECK")
    _, _, command = args.partition(" CMD ")
    return exec_form(command)


def _runtime_python() -> str | None:
    """A Python 3.11 that uid 10001 can run (the repository's .venv may live under /root)."""
    for candidate in ("/usr/local/bin/python3.11", "/usr/bin/python3.11"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


class Image:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp

    def map(self, text: str) -> str:
        for path in IMAGE_PATHS:
            text = re.sub(rf"(?<![\w/]){re.escape(path)}(?=/|\b|$)", str(self.tmp) + path, text)
        return text


@pytest.fixture(scope="module")
def image() -> Iterator[Image]:
    # Not pytest's tmp_path: its parents are mode 0700, and uid 10001 must reach the venv.
    tmp = Path(tempfile.mkdtemp(prefix="pllm-image-"))
    tmp.chmod(0o755)
    try:
        yield Image(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def wheel(image: Image) -> Path:
    """The builder stage: COPY the context into /src, RUN maturin build --out /wheels."""
    if not MATURIN.exists():
        pytest.skip("no .venv/bin/maturin: run `make dev` first")
    build, _ = _stages()
    src = image.tmp / "src"
    src.mkdir()
    for args in build.all("COPY"):
        assert not args.startswith("--"), args
        *sources, dest = args.split()
        for source in sources:
            target = src / dest / Path(source).name if dest.endswith("/") else src / dest
            target.parent.mkdir(parents=True, exist_ok=True)
            if (ROOT / source).is_dir():
                shutil.copytree(ROOT / source, target, ignore=shutil.ignore_patterns(*_ignored()))
            else:
                shutil.copy2(ROOT / source, target)
    (run,) = [r for r in build.all("RUN") if r.startswith("maturin build")]
    argv = [str(MATURIN), *image.map(run).split()[1:], "--interpreter", str(BUILD_PYTHON)]
    env = {**os.environ, "CARGO_TARGET_DIR": str(ROOT / "target")}
    done = subprocess.run(argv, cwd=src, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    wheels = list((image.tmp / "wheels").glob("pllm-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def _dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [p.strip() for p in lines if p.strip() and not p.startswith("#")]


def _ignored() -> list[str]:
    """.dockerignore's patterns that apply at any depth (``**/NAME``), as shutil globs on names;
    the others apply at the context's root, which the COPY instructions name one by one."""
    return [p.removeprefix("**/") for p in _dockerignore() if p.startswith("**/")]


def test_dockerignore_keeps_what_the_builder_copies() -> None:
    build, runtime = _stages()
    copies = [a for a in build.all("COPY") + runtime.all("COPY") if not a.startswith("--from")]
    root_patterns = {p for p in _dockerignore() if not p.startswith("**/")}
    for source in (s for copy in copies for s in copy.split()[:-1]):
        assert (ROOT / source).exists(), source
        assert source not in root_patterns and source.split("/")[0] not in root_patterns, source


@pytest.mark.timeout(600)
def test_builder_stage_makes_an_abi3_wheel_with_the_extension(wheel: Path) -> None:
    assert re.fullmatch(r"pllm-[\d.]+-cp311-abi3-\w+\.whl", wheel.name), wheel.name
    names = subprocess.run(
        [sys.executable, "-m", "zipfile", "-l", str(wheel)], capture_output=True, text=True
    ).stdout
    assert "pllm_accel/_native.abi3.so" in names
    assert "pllm/cli.py" in names


@pytest.fixture(scope="module")
def venv(image: Image, wheel: Path) -> Path:
    """The runtime stage's RUN: a venv at /opt/pllm, the wheel installed, /wheels removed."""
    python = _runtime_python()
    if python is None:
        pytest.skip("no Python 3.11 outside /root for the runtime venv (the image's python)")
    _, runtime = _stages()
    (run,) = [r for r in runtime.all("RUN") if "venv" in r]
    # pip's download cache is kept (--no-cache-dir dropped) so that a rerun downloads nothing.
    script = image.map(run).replace("--no-cache-dir", "")
    script = re.sub(r"^python ", f"{python} ", script)
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", script], capture_output=True, text=True, timeout=540
    )
    if done.returncode != 0 and "Could not find a version" in done.stderr:
        pytest.skip("PyPI unreachable: the wheel's dependencies cannot be installed")
    assert done.returncode == 0, done.stderr[-4000:]
    assert not (image.tmp / "wheels").exists(), "the RUN removes /wheels"
    return image.tmp / "opt" / "pllm"


@pytest.mark.timeout(600)
def test_runtime_stage_installs_the_wheel_into_a_venv(image: Image, venv: Path) -> None:
    # Run from the temporary directory: from the repository, `python -c` would import the
    # checkout's pllm_accel instead of the installed one.
    done = subprocess.run(
        [str(venv / "bin" / "pllm"), "check-config", str(ROOT / "config.yaml")],
        cwd=image.tmp,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    native = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import pllm_accel._native as n; print(n.__file__)"],
        cwd=image.tmp,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert str(venv) in native.stdout, native.stderr


@pytest.mark.timeout(180)
def test_runtime_runs_as_uid_10001_and_passes_its_healthcheck(image: Image, venv: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("switching to the image's uid 10001 needs root")
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.skip("needs unshare(1) and ip(8) for a network namespace of its own")
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot create a network namespace here: {probe.stderr.strip()}")
    _, runtime = _stages()
    uid, gid = (int(x) for x in runtime.all("USER")[0].split(":"))
    # The runtime stage's COPY of the config and its data directory owned by the user.
    for args in runtime.all("COPY"):
        if args.startswith("--from"):
            continue
        source, dest = args.split()
        target = Path(image.map(dest))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / source, target)
    data = image.tmp / "var" / "lib" / "pllm"
    data.mkdir(parents=True, exist_ok=True)
    os.chown(data, uid, gid)
    # The environment an image gives: its ENV (PATH with $PATH expanded), HOME of the user, and
    # the secret a deployment passes at run time.
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
    for key, value in runtime.env().items():
        env[key] = image.map(value).replace("$PATH", env["PATH"])
    env["HOME"] = str(data)
    env["PLLM_MASTER_KEY"] = "sk-image-steps"
    argv = exec_form(runtime.all("ENTRYPOINT")[0]) + exec_form(runtime.all("CMD")[0])
    argv[0] = shutil.which(argv[0], path=env["PATH"]) or argv[0]
    assert argv[0].startswith(str(venv)), argv
    spec = {
        "argv": argv,
        "env": env,
        "uid": uid,
        "gid": gid,
        "cwd": str(data),
        "healthcheck": [image.map(a) for a in _healthcheck(runtime)],
        "log": str(image.tmp / "serve.log"),
        "key": env["PLLM_MASTER_KEY"],
    }
    spec_path = image.tmp / "spec.json"
    spec_path.write_text(json.dumps(spec))
    done = subprocess.run(
        ["unshare", "-n", sys.executable, str(Path(__file__).with_name("run_image.py")), spec_path],
        capture_output=True,
        text=True,
        timeout=170,
    )
    log = (image.tmp / "serve.log").read_text(errors="replace")[-4000:]
    assert done.returncode == 0, f"{done.stderr[-4000:]}\n--- serve log ---\n{log}"
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["healthy"], f"{found}\n--- serve log ---\n{log}"
    assert found["uids"] and set(found["uids"]) == {uid}, found
    assert found["ready"] == 200, found
    assert found["chat"] == 200 and found["chat_object"] == "chat.completion", found
    assert found["admin_health"] == 200, found
    assert found["metrics"] == 200, found
    assert found["exit_code"] == 0, f"{found}\n--- serve log ---\n{log}"
    assert found["health_after_exit"] != 0, "the health check fails once the server is gone"
    # The store went where the image's volume is, written by the image's user.
    written = list(data.rglob("*"))
    assert written, "nothing written to PLLM_DATA_DIR"
    assert {p.stat().st_uid for p in written} == {uid}, [(p, p.stat().st_uid) for p in written]
