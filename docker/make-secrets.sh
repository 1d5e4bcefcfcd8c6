#!/bin/sh
# Writes the stack's secrets, one file each, into DIR (default: docker/secrets,
# which git ignores). A file that exists is kept, so running it again
# changes nothing. The directory is the owner's alone (0700); the files in
# it are 0644 because docker-compose bind-mounts them as they are, and the
# containers' users (recobro, asterisk, postgres, grafana) must read them.
set -eu
dir=${1:-$(dirname "$0")/secrets}
mkdir -p "$dir"
chmod 0700 "$dir"
umask 022

# Hex only: no character a URL, a shell or an Asterisk config would read.
secret() { [ -s "$dir/$1" ] || openssl rand -hex "$2" > "$dir/$1"; }
secret ami_secret 24
secret ari_password 24
secret api_token 32
secret asterisk_metrics_password 24
secret postgres_password 24
secret grafana_admin_password 16
# The URL the Recobro processes reach PostgreSQL by, with its password.
[ -s "$dir/database_url" ] || printf 'postgresql://recobro:%s@postgres:5432/recobro\n' \
    "$(cat "$dir/postgres_password")" > "$dir/database_url"
# The agents' softphones: ENDPOINT SECRET NAME, one a line (four to start).
if [ ! -s "$dir/asterisk_agents" ]; then
    for number in 1001 1002 1003 1004; do
        printf 'agent%s %s Agent %s\n' "$number" "$(openssl rand -hex 12)" "$number"
    done > "$dir/asterisk_agents"
fi
echo "secrets in $dir"
