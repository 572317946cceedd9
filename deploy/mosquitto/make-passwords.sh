#!/usr/bin/env bash
# The broker's password file, with a random password per user:
#
#   deploy/mosquitto/make-passwords.sh DIR USER...
#   e.g. make-passwords.sh /etc/mosquitto/mes mes-bridge mes-simulator line1-gw
#
# Writes DIR/passwd (mosquitto_passwd hashes; password_file of mosquitto.conf) and
# DIR/credentials ("user password" per line, readable by its owner only: hand each password
# to its client, e.g. in MQTT_URL=mqtts://mes-bridge:PASSWORD@broker:8883). Users already in
# DIR/credentials keep their password; run it again to add users. Nothing here is committed.
set -euo pipefail

[ $# -ge 2 ] || { echo "usage: $0 DIR USER..." >&2; exit 2; }
dir="$1"; shift
command -v mosquitto_passwd >/dev/null || {
  echo "$0: mosquitto_passwd is missing (Debian: apt-get install -y mosquitto)" >&2; exit 1; }
command -v openssl >/dev/null || { echo "$0: openssl is not installed" >&2; exit 1; }
mkdir -p "$dir"
umask 077
credentials="$dir/credentials"
touch "$credentials"
for user in "$@"; do
  if [[ ! "$user" =~ ^[A-Za-z0-9._-]+$ ]]; then
    echo "$0: user name '$user' must be letters, digits, . _ - (no / + # or spaces)" >&2
    exit 2
  fi
  if ! grep -q "^$user " "$credentials"; then
    echo "$user $(openssl rand -hex 24)" >> "$credentials"
    echo "new password for $user in $credentials"
  fi
done
# The password file is rebuilt from the credentials each time (mosquitto_passwd -b hashes).
: > "$dir/passwd.new"
while read -r user password; do
  [ -n "$user" ] && mosquitto_passwd -b "$dir/passwd.new" "$user" "$password"
done < "$credentials"
mv "$dir/passwd.new" "$dir/passwd"
