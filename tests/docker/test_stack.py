"""docker/, checked statically (no Docker engine runs here): the compose
file as docker-compose itself reads it with example secrets, the ports it
publishes, its secrets, healthchecks and start order; the Dockerfiles
(hadolint, and every file they copy exists); the stack's Prometheus config
(promtool); and the Asterisk image's configs, which must be what the lab
renders from the same settings."""

from __future__ import annotations

import ipaddress
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dialer.asterisk_config import RUN_DIRS, render
from dialer.errors import LabError
from dialer.settings import ASTERISK_METRICS_USER, load_asterisk_site
from lab.asterisk import lab_site, render_configs
from lab.config import ASTERISK_CONF_DIR, LabAgent, LabConfig
from lab.provision import ensure_host_packages

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
COMPOSE = DOCKER / "compose.yaml"
# What may be reached from outside the host: SIP and RTP, and Grafana.
PUBLISHING = {"asterisk", "grafana"}
# The commands these checks run -> the Debian package that provides each.
TOOLS = {"docker-compose": "docker-compose", "promtool": "prometheus"}
# Settings whose value would be a secret: only ever given as a _FILE.
SECRET_NAME = re.compile(r"(SECRET|PASSWORD|TOKEN|KEY|DATABASE_URL)$")


@pytest.fixture(scope="module")
def tools() -> None:
    """docker-compose and promtool, installed from Debian as the lab installs
    its packages; skipped only when they cannot be (not root, no apt)."""
    try:
        ensure_host_packages(TOOLS)
    except LabError as error:
        pytest.skip(f"cannot install {', '.join(TOOLS.values())}: {error}")


@pytest.fixture(scope="module")
def secrets_dir(tmp_path_factory) -> Path:
    """Example secrets, written by the script the README tells an engineer to run."""
    where = tmp_path_factory.mktemp("stack") / "secrets"
    subprocess.run(["sh", str(DOCKER / "make-secrets.sh"), str(where)], check=True,
                   capture_output=True, timeout=60)
    return where


@pytest.fixture(scope="module")
def stack(tools, secrets_dir) -> dict:
    """The compose file as `docker-compose config` resolves it."""
    env = {"PATH": "/usr/bin:/bin", "RECOBRO_SECRETS": str(secrets_dir),
           "RECOBRO_TRUNK_HOST": "192.0.2.10"}
    done = subprocess.run(["docker-compose", "--file", str(COMPOSE), "config"], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "WARNING" not in done.stderr, done.stderr
    return yaml.safe_load(done.stdout)


def services(stack: dict) -> dict[str, dict]:
    return stack["services"]


def test_the_compose_file_needs_the_carriers_address(tools, secrets_dir):
    env = {"PATH": "/usr/bin:/bin", "RECOBRO_SECRETS": str(secrets_dir)}
    done = subprocess.run(["docker-compose", "--file", str(COMPOSE), "config"], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode != 0
    assert "set RECOBRO_TRUNK_HOST" in done.stderr


def test_the_stack_has_every_part(stack):
    assert set(services(stack)) == {"postgres", "migrate", "asterisk", "dialer", "api",
                                    "prometheus", "grafana"}
    assert services(stack)["migrate"]["command"] == ["db", "migrate"]
    assert services(stack)["dialer"]["command"][:2] == ["campaign", "run"]
    assert services(stack)["api"]["command"] == ["api"]


def test_only_sip_rtp_and_grafana_are_published(stack):
    published = {name for name, service in services(stack).items() if service.get("ports")}
    assert published == PUBLISHING
    for service in services(stack).values():
        assert service.get("network_mode") is None  # no host network
    asterisk = services(stack)["asterisk"]
    env = asterisk["environment"]
    first, last = (int(port) for port in env["RECOBRO_ASTERISK_RTP_PORTS"].split("-"))
    sip = int(env["RECOBRO_ASTERISK_SIP_PORT"])
    ports = asterisk["ports"]
    assert all(p["protocol"] == "udp" and p["published"] == p["target"] for p in ports)
    assert sorted(p["target"] for p in ports) == [sip, *range(first, last + 1)]
    [grafana] = services(stack)["grafana"]["ports"]
    assert grafana == "127.0.0.1:3000:3000/tcp"  # loopback unless RECOBRO_GRAFANA_PUBLISH


def test_every_secret_is_a_file_and_no_setting_holds_one(stack, secrets_dir):
    declared = stack["secrets"]
    for name, secret in declared.items():
        assert set(secret) == {"file"}, name  # not external, not from the environment
        path = Path(secret["file"])
        assert path.parent == secrets_dir and path.name == name
        assert path.is_file() and path.read_text().strip(), name
    assert stat.S_IMODE(secrets_dir.stat().st_mode) == 0o700
    for name, service in services(stack).items():
        mounted = {secret["source"] for secret in service.get("secrets", [])}
        assert mounted <= set(declared), name
        for key, value in service.get("environment", {}).items():
            assert not SECRET_NAME.search(key), f"{name}: {key} holds a secret"
            if key.endswith("_FILE"):
                assert value.startswith("/run/secrets/"), f"{name}: {key}"
                assert value.removeprefix("/run/secrets/") in mounted, f"{name}: {key}"


def test_make_secrets_keeps_what_exists_and_agrees_with_itself(secrets_dir):
    before = {path.name: path.read_text() for path in secrets_dir.iterdir()}
    subprocess.run(["sh", str(DOCKER / "make-secrets.sh"), str(secrets_dir)], check=True,
                   capture_output=True, timeout=60)
    assert {path.name: path.read_text() for path in secrets_dir.iterdir()} == before
    password = before["postgres_password"].strip()
    assert before["database_url"].strip() == (
        f"postgresql://recobro:{password}@postgres:5432/recobro")


def test_git_never_takes_the_secrets():
    ignored = subprocess.run(["git", "check-ignore", "--quiet", "docker/secrets/ami_secret"],
                             cwd=ROOT, check=False, timeout=30)
    assert ignored.returncode == 0


def test_listeners_are_on_the_container_interface_by_explicit_settings(stack):
    every = services(stack)
    for name in ("dialer", "api"):
        assert every[name]["environment"]["RECOBRO_METRICS_HOST"] == "0.0.0.0", name
    assert every["api"]["environment"]["RECOBRO_API_HOST"] == "0.0.0.0"
    asterisk = every["asterisk"]
    env = asterisk["environment"]
    assert env["RECOBRO_ASTERISK_AMI_HOST"] == env["RECOBRO_ASTERISK_HTTP_HOST"] == "0.0.0.0"
    # SDP offers the SIP address, so it is the container's own, fixed on the network.
    address = asterisk["networks"]["recobro"]["ipv4_address"]
    assert env["RECOBRO_ASTERISK_SIP_HOST"] == address
    [subnet] = [c["subnet"] for c in stack["networks"]["recobro"]["ipam"]["config"]]
    network = ipaddress.ip_network(subnet)
    assert ipaddress.ip_address(address) in network
    assert ipaddress.ip_network(env["RECOBRO_ASTERISK_AMI_PERMIT"]) == network
    assert ipaddress.ip_network(env["RECOBRO_ASTERISK_LOCAL_NET"]) == network


def test_the_processes_reach_asterisk_where_it_listens(stack):
    every = services(stack)
    asterisk = every["asterisk"]["environment"]
    for name in ("dialer", "api"):
        env = every[name]["environment"]
        assert env["RECOBRO_AMI_HOST"] == "asterisk"
        assert env["RECOBRO_AMI_PORT"] == asterisk["RECOBRO_AMI_PORT"]
        assert env["RECOBRO_ARI_URL"] == f"http://asterisk:{asterisk['RECOBRO_ASTERISK_HTTP_PORT']}"
        for key in ("RECOBRO_AMI_USER", "RECOBRO_ARI_USER", "RECOBRO_AMI_SECRET_FILE",
                    "RECOBRO_ARI_PASSWORD_FILE", "RECOBRO_CALLER_ID", "RECOBRO_LANGUAGE"):
            assert env[key] == asterisk[key], (name, key)


def test_healthchecks_and_start_order(stack):
    every = services(stack)
    for name, service in every.items():
        if name != "migrate":  # a one-shot: it is done, not healthy
            assert service["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), name
        for needed, how in service.get("depends_on", {}).items():
            assert how["condition"] in ("service_healthy", "service_completed_successfully",
                                        "service_started"), (name, needed)
    assert every["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("dialer", "api"):
        assert every[name]["depends_on"] == {
            "migrate": {"condition": "service_completed_successfully"},
            "asterisk": {"condition": "service_healthy"}}
    assert every["grafana"]["depends_on"]["prometheus"]["condition"] == "service_healthy"


def _dockerfiles(stack: dict) -> dict[str, tuple[Path, Path]]:
    """Each built image's (build context, Dockerfile)."""
    built = {}
    for service in services(stack).values():
        if "build" in service:
            context = Path(service["build"]["context"])
            built[service["image"]] = (context, context / service["build"]["dockerfile"])
    return built


def _copied(dockerfile: Path) -> list[tuple[str, str]]:
    """The (source, destination) of every COPY/ADD from the build context."""
    found = []
    for line in re.sub(r"\\\n", " ", dockerfile.read_text()).splitlines():
        words = line.split()
        if words and words[0] in ("COPY", "ADD") and not any(
                w.startswith("--from") for w in words):
            *sources, destination = [w for w in words[1:] if not w.startswith("--")]
            found += [(source, destination) for source in sources]
    return found


def test_the_dockerfiles_copy_only_files_that_exist_and_are_sent(stack):
    built = _dockerfiles(stack)
    assert set(built) == {"recobro:local", "recobro-asterisk:local"}
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    sent = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    for context, dockerfile in built.values():
        assert context == ROOT and dockerfile.is_file()
        copied = _copied(dockerfile)
        assert copied, dockerfile
        for source, _ in copied:
            assert (context / source).exists(), f"{dockerfile}: {source}"
            assert any(source.rstrip("/") == s or source.startswith(s + "/") for s in sent), \
                f"{dockerfile}: .dockerignore leaves {source} out"
    # The Asterisk image's entrypoint renders from the templates it copied.
    entrypoint = (DOCKER / "asterisk" / "entrypoint.sh").read_text()
    templates = re.search(r"--templates (\S+)", entrypoint).group(1)
    asterisk_copies = dict(_copied(DOCKER / "asterisk" / "Dockerfile"))
    assert asterisk_copies["asterisk_conf/"].rstrip("/") == templates
    assert "/usr/local/bin/recobro-asterisk" in asterisk_copies.values()


def test_hadolint_passes_on_the_dockerfiles():
    hadolint = Path(sys.executable).with_name("hadolint")
    dockerfiles = sorted(DOCKER.glob("*/Dockerfile"))
    assert len(dockerfiles) == 2
    done = subprocess.run([str(hadolint), "--no-color", "--config",
                           str(DOCKER / ".hadolint.yaml"), *map(str, dockerfiles)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_images_bake_no_secret_and_run_unprivileged():
    for dockerfile in DOCKER.glob("*/Dockerfile"):
        text = re.sub(r"\\\n", " ", dockerfile.read_text())
        settings = re.findall(r"^(?:ENV|ARG)\s+(.*)$", text, re.MULTILINE)
        names = [word.split("=")[0] for line in settings for word in line.split()]
        assert "PYTHON_IMAGE" in names, dockerfile
        assert not [n for n in names if SECRET_NAME.search(n)], dockerfile
        assert not [s for s, _ in _copied(dockerfile) if "secret" in s or ".lab" in s]
    recobro = (DOCKER / "recobro" / "Dockerfile").read_text()
    assert re.search(r"^USER 10001:10001$", recobro.rsplit("\nFROM ", 1)[1], re.MULTILINE)
    assert re.search(r"pip install [^\n]* /src$", recobro, re.MULTILINE)  # no [dev] extra
    entrypoint = (DOCKER / "asterisk" / "entrypoint.sh").read_text()
    assert "exec /usr/sbin/asterisk -f -U asterisk -G asterisk" in entrypoint


def test_the_stacks_prometheus_config_passes_promtool(stack, tmp_path):
    """promtool reads the config with the files the container has: its
    mounted volumes and secrets, staged under tmp_path at the same paths."""
    prometheus = services(stack)["prometheus"]
    for volume in prometheus["volumes"]:
        source, target = volume.split(":")[:2]
        if Path(source).is_file():
            (tmp_path / target.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, tmp_path / target.lstrip("/"))
    for secret in prometheus["secrets"]:
        staged = tmp_path / "run" / "secrets" / secret["source"]
        staged.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(stack["secrets"][secret["source"]]["file"], staged)
    config_path = tmp_path / "etc" / "prometheus" / "prometheus.yml"
    config = yaml.safe_load(config_path.read_text())
    config["rule_files"] = [str(tmp_path / p.lstrip("/")) for p in config["rule_files"]]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    auth = jobs["asterisk"]["basic_auth"]
    auth["password_file"] = str(tmp_path / auth["password_file"].lstrip("/"))
    config_path.write_text(yaml.safe_dump(config))
    done = subprocess.run(["promtool", "check", "config", str(config_path)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 5 rules found" in done.stdout
    # It scrapes each process where the compose file says it serves.
    every = services(stack)
    targets = {target: group.get("labels", {}).get("process")
               for job in jobs.values() for group in job["static_configs"]
               for target in group["targets"]}
    for name in ("dialer", "api"):
        assert targets[f"{name}:{every[name]['environment']['RECOBRO_METRICS_PORT']}"] == name
    http_port = every["asterisk"]["environment"]["RECOBRO_ASTERISK_HTTP_PORT"]
    assert f"asterisk:{http_port}" in targets
    assert auth["username"] == ASTERISK_METRICS_USER


def test_grafana_finds_the_dashboards_and_prometheus(stack):
    grafana = services(stack)["grafana"]
    mounts = dict(volume.split(":")[:2] for volume in grafana["volumes"])
    provisioning = Path(next(k for k, v in mounts.items() if v == "/etc/grafana/provisioning"))
    providers = yaml.safe_load((provisioning / "dashboards" / "recobro.yml").read_text())
    [provider] = providers["providers"]
    dashboards = Path(next(k for k, v in mounts.items() if v == provider["options"]["path"]))
    assert sorted(p.name for p in dashboards.glob("*.json")) == [
        "campaign.json", "engine.json", "floor.json"]
    datasources = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    assert datasources["datasources"][0]["url"] == "http://prometheus:9090"


def _lab(tmp_path: Path) -> LabConfig:
    agents = (LabAgent("agent1001", "Agent 1001", "agent1s3cret", 15101, 17100),
              LabAgent("agent1002", "Agent 1002", "agent2s3cret", 15102, 17110))
    return LabConfig(lab_dir=tmp_path / "lab", cache_dir=tmp_path / "cache", port_base=15000,
                     lab_id="parity", ami_user="recobro", ami_secret="amis3cret",
                     ari_user="recobro", ari_password="aris3cret", api_token="apis3cret",
                     agents=agents, asterisk_metrics_password="metricss3cret")


def _lab_as_settings(cfg: LabConfig, secrets: Path) -> dict[str, str]:
    """The lab's Asterisk written as the image's settings, secrets in files."""
    secrets.mkdir()
    files = {"RECOBRO_AMI_SECRET_FILE": cfg.ami_secret,
             "RECOBRO_ARI_PASSWORD_FILE": cfg.ari_password,
             "RECOBRO_ASTERISK_METRICS_PASSWORD_FILE": cfg.asterisk_metrics_password,
             "RECOBRO_ASTERISK_AGENTS_FILE": "".join(
                 f"{a.endpoint} {a.secret} {a.name}\n" for a in cfg.agents)}
    env = {}
    for key, text in files.items():
        (secrets / key).write_text(text if text.endswith("\n") else text + "\n")
        env[key] = str(secrets / key)
    rtp_start, rtp_end = cfg.rtp_range
    return env | {
        "RECOBRO_ASTERISK_RUN_DIR": cfg.asterisk_run_in_root,
        "RECOBRO_ASTERISK_AMI_HOST": cfg.host, "RECOBRO_AMI_PORT": str(cfg.ami_port),
        "RECOBRO_AMI_USER": cfg.ami_user,
        "RECOBRO_ASTERISK_HTTP_HOST": cfg.host, "RECOBRO_ASTERISK_HTTP_PORT": str(cfg.ari_port),
        "RECOBRO_ARI_USER": cfg.ari_user,
        "RECOBRO_ASTERISK_SIP_HOST": cfg.host, "RECOBRO_ASTERISK_SIP_PORT": str(cfg.sip_port),
        "RECOBRO_ASTERISK_TRUNK_HOST": cfg.host,
        "RECOBRO_ASTERISK_TRUNK_PORT": str(cfg.pstn_port),
        "RECOBRO_ASTERISK_RTP_PORTS": f"{rtp_start}-{rtp_end}",
        "RECOBRO_ASTERISK_AGI_HOST": cfg.host, "RECOBRO_ASTERISK_AGI_PORT": str(cfg.agi_port),
    }


def _tree(etc: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), stat.S_IMODE(p.stat().st_mode)) for p in etc.iterdir()}


def test_the_image_renders_what_the_lab_renders_from_the_same_settings(tmp_path):
    cfg = _lab(tmp_path)
    site = load_asterisk_site(_lab_as_settings(cfg, tmp_path / "secrets"))
    assert site == lab_site(cfg)
    from_lab = render_configs(cfg, tmp_path / "lab-etc")
    from_image = render(site, ASTERISK_CONF_DIR, tmp_path / "image-etc")
    assert _tree(from_image) == _tree(from_lab)
    assert len(_tree(from_lab)) == len(list(ASTERISK_CONF_DIR.iterdir())) >= 17


def test_the_compose_settings_render_asterisks_configs(stack, secrets_dir, tmp_path):
    """The asterisk service's environment, as docker-compose resolves it, run
    through the image's entrypoint command; its secrets at their host paths."""
    asterisk = services(stack)["asterisk"]
    env = {key: (str(secrets_dir / value.removeprefix("/run/secrets/"))
                 if key.endswith("_FILE") else value)
           for key, value in asterisk["environment"].items()}
    env |= {"RECOBRO_ASTERISK_RUN_DIR": str(tmp_path / "run"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "dialer.asterisk_config", "--templates",
                           str(ROOT / "asterisk_conf")], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    run = tmp_path / "run"
    assert all((run / sub).is_dir() for sub in RUN_DIRS)
    texts = {p.name: p.read_text() for p in (run / "etc").iterdir()}
    address = asterisk["networks"]["recobro"]["ipv4_address"]
    assert "bindaddr = 0.0.0.0\nport = 5038" in texts["manager.conf"]
    assert "permit = 172.30.77.0/255.255.255.0" in texts["manager.conf"]
    assert "bindaddr = 0.0.0.0\nbindport = 8088" in texts["http.conf"]
    assert f"bind = {address}:5060\n" in texts["pjsip.conf"]
    assert "external_media_address" not in texts["pjsip.conf"]  # none set
    assert f"media_address = {address}" in texts["pjsip_recobro.conf"]
    assert "rtpstart = 10000\nrtpend = 10099" in texts["rtp.conf"]
    assert "contact = sip:192.0.2.10:5060" in texts["pjsip_recobro.conf"]
    agents = (secrets_dir / "asterisk_agents").read_text().splitlines()
    assert texts["pjsip_recobro.conf"].count("type = auth") == len(agents) == 4
    for name in ("ami_secret", "ari_password", "asterisk_metrics_password"):
        assert (secrets_dir / name).read_text().strip() in "".join(texts.values()), name


def test_every_variable_the_compose_file_reads_is_in_the_example():
    read = set(re.findall(r"\$\{(\w+)", COMPOSE.read_text()))
    example = set(re.findall(r"^#? ?(\w+)=", (DOCKER / "env.example").read_text(), re.MULTILINE))
    assert read and read == example
