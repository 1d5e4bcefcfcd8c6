"""The wheel on its own (issue 13): built from this checkout, installed into
a fresh virtual environment outside the clone, and run from a directory
outside it, where no repository path can help. About a minute (the build,
and the dependencies installed from pip's cache or the package registry,
the only network it uses), so marked `packaging`: `make test` runs it,
`make unit` leaves it out."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from dialer.cli import build_parser
from dialer.store.migrate import MIGRATIONS
from lab.bench import DEFAULT_MATRIX
from lab.config import SCENARIO_DIR
from pacing.scenario import parse_scenarios

pytestmark = pytest.mark.packaging

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("dialer", "ivr", "pacing", "payment_ivr", "lab")
# Only the migrations' test reads it (tests/unit/test_migrations_landed.py);
# an installed Recobro never does, so the wheel leaves it out.
NOT_SHIPPED = {"dialer/store/migrations/landed.sha256"}
PORT_BASE = 27000


@dataclass(frozen=True)
class Installed:
    """A wheel, and a fresh virtual environment it was installed into."""

    wheel: Path
    source: Path
    bin: Path
    outside: Path  # an empty directory outside the clone to run commands in


def _checkout_files() -> list[str]:
    """The files a fresh clone of this checkout would hold: tracked ones, and
    new ones git does not ignore (so a change not yet committed is built)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, check=True, capture_output=True).stdout.decode()
    return [name for name in listed.split("\0") if name and os.path.lexists(REPO / name)]


def _env(**extra: str) -> dict[str, str]:
    """This environment without what would point back into the clone or at
    another lab: no PYTHONPATH, no active virtual environment, no settings."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "VIRTUAL_ENV", "DATABASE_URL")
           and not key.startswith("RECOBRO_")}
    return {**env, **extra}


def _run(argv: list[str | Path], cwd: Path, **extra: str) -> str:
    done = subprocess.run([str(arg) for arg in argv], cwd=cwd, env=_env(**extra),
                          capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, f"{argv}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    work = tmp_path_factory.mktemp("wheel")
    assert not work.resolve().is_relative_to(REPO)
    # Built from a copy: setuptools builds in the source tree (build/,
    # *.egg-info), and a build/ left in the clone could carry stale files
    # into a later wheel. Links are kept as links (lab/asterisk_conf).
    source = work / "source"
    for name in _checkout_files():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, source / name, follow_symlinks=False)
    dist = work / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", dist, source],
         cwd=work)
    (wheel,) = dist.glob("recobro-*.whl")
    venv = work / "venv"
    _run([sys.executable, "-m", "venv", venv], cwd=work)
    _run([venv / "bin" / "python", "-m", "pip", "install", "--quiet", wheel], cwd=work)
    outside = work / "elsewhere"
    outside.mkdir()
    return Installed(wheel=wheel, source=source, bin=venv / "bin", outside=outside)


def test_the_wheel_holds_the_packages_and_every_file_they_read(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = {name for name in wheel.namelist() if ".dist-info/" not in name}
    # Every file of the package folders as a clone has them, following
    # lab/asterisk_conf to the top-level asterisk_conf/ it links to.
    expected = set()
    for package in PACKAGES:
        for folder, dirs, files in os.walk(installed.source / package, followlinks=True):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            expected |= {(Path(folder) / f).relative_to(installed.source).as_posix()
                         for f in files}
    templates = {f"lab/asterisk_conf/{p.name}" for p in (REPO / "asterisk_conf").iterdir()}
    assert templates and templates <= expected
    missing, extra = expected - NOT_SHIPPED - names, names - expected
    assert not missing and not extra, f"missing {sorted(missing)}, extra {sorted(extra)}"
    # Nothing else: no tests, no top-level folder of the repository.
    assert {name.split("/")[0] for name in names} == set(PACKAGES)


def test_recobro_runs_from_the_wheel_outside_the_clone(
        installed: Installed, monkeypatch: pytest.MonkeyPatch) -> None:
    # The same help as this checkout's parser gives, at the same width.
    monkeypatch.setenv("COLUMNS", "100")
    help_text = _run([installed.bin / "recobro", "--help"], cwd=installed.outside,
                     COLUMNS="100")
    assert help_text == build_parser().format_help()
    script = ("import json, dialer, ivr, lab, pacing, payment_ivr\n"
              "print(json.dumps([m.__file__ for m in (dialer, ivr, lab, pacing, payment_ivr)]))")
    where = json.loads(_run([installed.bin / "python", "-c", script], cwd=installed.outside))
    site = (installed.bin.parent / "lib").resolve()
    assert all(Path(path).resolve().is_relative_to(site) for path in where), where


def test_the_installed_recobro_renders_the_labs_asterisk_configs(installed: Installed) -> None:
    run = installed.outside / "render"
    etc = run / "etc"
    out = _run([installed.bin / "recobro", "lab", "render", "--to", etc], cwd=installed.outside,
               RECOBRO_LAB_DIR=str(run / "lab"), RECOBRO_CACHE_DIR=str(run / "cache"),
               RECOBRO_LAB_PORT_BASE=str(PORT_BASE))
    assert out == f"asterisk configs: {etc}\n"
    assert sorted(p.name for p in etc.iterdir()) == sorted(
        p.name for p in (REPO / "asterisk_conf").glob("*.conf"))
    texts = {p.name: p.read_text() for p in etc.iterdir()}
    assert not [name for name, text in texts.items() if "{{" in text or "{%" in text]
    # The ports of RECOBRO_LAB_PORT_BASE, all on loopback.
    assert "bind = 127.0.0.1:27060" in texts["pjsip.conf"]
    assert "bindaddr = 127.0.0.1\nport = 27038\n" in texts["manager.conf"]
    assert "bindaddr = 127.0.0.1\nbindport = 27088\n" in texts["http.conf"]
    assert "rtpstart = 27500\nrtpend = 28999\n" in texts["rtp.conf"]
    assert "contact = sip:127.0.0.1:27070" in texts["pjsip_recobro.conf"]
    # The lab's own credentials, made for this lab directory, in private files.
    secrets = dict(line.split("=", 1) for line in
                   (run / "lab" / "secrets.env").read_text().splitlines())
    assert f"secret = {secrets['AMI_SECRET']}" in texts["manager.conf"]
    assert f"password = {secrets['ARI_PASSWORD']}" in texts["ari.conf"]
    for name in ("manager.conf", "ari.conf", "pjsip_recobro.conf"):
        assert stat.S_IMODE((etc / name).stat().st_mode) == 0o600, name
    # Nothing started: rendering touches no Asterisk root.
    assert not (run / "cache").exists()


def test_the_installed_recobro_reads_its_packaged_data(installed: Installed) -> None:
    """The scenario matrix, the migrations and sipp's scenarios come from
    the installed package, and are those of the checkout."""
    script = (
        "import json\n"
        "from dialer.store.migrate import MIGRATIONS\n"
        "from lab.bench import DEFAULT_MATRIX\n"
        "from lab.config import SCENARIO_DIR\n"
        "from pacing.scenario import parse_scenarios\n"
        "print(json.dumps({\n"
        "    'matrix': [s.name for s in parse_scenarios(DEFAULT_MATRIX.read_text(), 'toml')],\n"
        "    'migrations': sorted(p.name for p in MIGRATIONS.glob('*.sql')),\n"
        "    'sipp': sorted(p.name for p in SCENARIO_DIR.glob('*.xml')),\n"
        "}))\n")
    found = json.loads(_run([installed.bin / "python", "-c", script], cwd=installed.outside))
    assert found == {
        "matrix": [s.name for s in parse_scenarios(DEFAULT_MATRIX.read_text(), "toml")],
        "migrations": sorted(p.name for p in MIGRATIONS.glob("*.sql")),
        "sipp": sorted(p.name for p in SCENARIO_DIR.glob("*.xml")),
    }
    assert found["matrix"] and found["migrations"] and found["sipp"]
