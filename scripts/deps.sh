#!/bin/sh
# Install every Debian package that building, testing and benchmarking
# hikyaku needs. Idempotent: when everything is already installed it does
# nothing (no apt-get at all), so calling it before every build is cheap.
#
# Postfix is installed only for its smtp-source load generator and for the
# side-by-side benchmark (bench/smtp-receive runs its own instance with its
# own config directory). It is preseeded to "No configuration" and kept from
# starting during installation, so it never becomes a system mailer that
# holds port 25 or queues mail. Dovecot likewise is only the IMAP benchmark
# peer (bench/imap runs its own instance) and is kept from starting.
set -eu

PKGS="meson ninja-build pkg-config gcc clang libuv1-dev libssl-dev
libsqlite3-dev libsodium-dev libunbound-dev libcurl4-openssl-dev
libclang-rt-14-dev python3 openssl swaks curl postfix sqlite3 procps
nsd ldnsutils dns-root-data fetchmail isync libunistring-dev
python3-yaml python3-spf python3-dkim libpsl-dev publicsuffix
dovecot-imapd"

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing="$missing $p"
    fi
done
if [ -z "$missing" ]; then
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

echo "deps.sh: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive

# No system mailer: Postfix's package must not configure or start itself.
echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections

# Keep invoke-rc.d from starting services while we install (containers have
# no init to stop them again). Only if no policy is in place already, and
# removed again on exit.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod 0755 "$policy"
    own_policy=1
fi
cleanup() {
    if [ "$own_policy" -eq 1 ]; then
        $SUDO rm -f "$policy"
    fi
}
trap cleanup EXIT INT TERM

$SUDO apt-get update -q
# shellcheck disable=SC2086  # word splitting of the package list is intended
$SUDO apt-get install -y -q --no-install-recommends $missing
