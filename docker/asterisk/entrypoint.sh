#!/bin/sh
# The Asterisk image's start: render Recobro's configs from the container's
# settings and secret files (/run/secrets/...) into the run directory, then
# run Asterisk in the foreground as the asterisk user (it drops root itself
# once it has read asterisk.conf).
set -eu
/opt/recobro/bin/python -m dialer.asterisk_config --templates /usr/share/recobro/asterisk_conf
# The configs holding secrets are 0600: the asterisk user must own them.
chown -R asterisk:asterisk "$RECOBRO_ASTERISK_RUN_DIR"
exec /usr/sbin/asterisk -f -U asterisk -G asterisk \
    -C "$RECOBRO_ASTERISK_RUN_DIR/etc/asterisk.conf" "$@"
