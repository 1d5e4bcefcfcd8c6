"""Asterisk's configs for Recobro: the templates of asterisk_conf/ rendered
with one site's addresses, ports and secrets (dialer.settings.AsteriskSite).
The lab renders them from its LabConfig (lab/asterisk.py); the Asterisk
image renders them at each start from its settings and secret files:

    python -m dialer.asterisk_config --templates DIR

which writes RECOBRO_ASTERISK_RUN_DIR/etc and the directories beside it."""

from __future__ import annotations

import argparse
import sys
from importlib.resources.abc import Traversable
from pathlib import Path

import jinja2

from dialer.errors import ConfigError
from dialer.settings import AsteriskSite, load_asterisk_site

# Files holding a secret are readable by their owner only.
SECRET_FILES = frozenset({"manager.conf", "ari.conf", "pjsip_recobro.conf", "prometheus.conf"})
# The directories asterisk.conf names beside etc/. log/cdr-csv and
# log/cel-custom: cdr_csv and cel_custom write each call's record (each
# channel event) to Master.csv there and log errors when one is missing.
RUN_DIRS = ("db", "spool", "run", "log", "log/cdr-csv", "log/cel-custom")


def template_values(site: AsteriskSite) -> dict[str, object]:
    """What the templates in asterisk_conf/ are rendered with."""
    return {
        "run_dir": site.run_dir, "language": site.language,
        "ami_host": site.ami_host, "ami_port": site.ami_port, "ami_permit": site.ami_permit,
        "ami_user": site.ami_user, "ami_secret": site.ami_secret,
        "ari_host": site.http_host, "ari_port": site.http_port,
        "ari_user": site.ari_user, "ari_password": site.ari_password,
        "sip_host": site.sip_host, "sip_port": site.sip_port,
        "external_address": site.external_address, "local_net": site.local_net,
        "trunk": site.trunk, "trunk_host": site.trunk_host, "trunk_port": site.trunk_port,
        "ari_app": site.ari_app,
        "caller_id": site.caller_id,
        "rtp_start": site.rtp_start, "rtp_end": site.rtp_end,
        "agents": site.agents,
        "agi_host": site.agi_host, "agi_port": site.agi_port,
        "metrics_user": site.metrics_user, "metrics_password": site.metrics_password,
    }


def render(site: AsteriskSite, templates: Traversable, etc: Path) -> Path:
    """Render every template of templates (asterisk_conf/) for site into
    etc and return it. Files holding a secret are made 0600."""
    etc.mkdir(parents=True, exist_ok=True)
    # The templates may be package data read through importlib.resources
    # (not necessarily a directory on disk), so jinja2 is handed their text.
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(lambda name: (templates / name).read_text(encoding="utf-8")),
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)
    values = template_values(site)
    for name in sorted(t.name for t in templates.iterdir() if t.name.endswith(".conf")):
        target = etc / name
        target.unlink(missing_ok=True)
        target.touch(mode=0o600 if name in SECRET_FILES else 0o644)
        target.write_text(env.get_template(name).render(values))
    return etc


def make_run_dirs(run_dir: Path) -> None:
    """The directories asterisk.conf names beside etc/."""
    for sub in RUN_DIRS:
        (run_dir / sub).mkdir(parents=True, exist_ok=True)


def main(argv: list[str] | None = None) -> int:
    """Render the configs of the site the environment describes into its
    run directory's etc/ (the Asterisk image's entrypoint); a ConfigError
    is one line naming the setting, and exit status 2."""
    parser = argparse.ArgumentParser(prog="python -m dialer.asterisk_config",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--templates", type=Path, required=True,
                        help="the directory of templates (the repository's asterisk_conf/)")
    args = parser.parse_args(argv)
    if not (args.templates / "asterisk.conf").is_file():
        print(f"asterisk-config: error: --templates {args.templates}: no asterisk.conf there",
              file=sys.stderr)
        return 2
    try:
        site = load_asterisk_site()
    except ConfigError as error:
        print(f"asterisk-config: error: {error}", file=sys.stderr)
        return 2
    run_dir = Path(site.run_dir)
    make_run_dirs(run_dir)
    print(f"asterisk-config: rendered {render(site, args.templates, run_dir / 'etc')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
