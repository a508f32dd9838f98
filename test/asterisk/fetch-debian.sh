#!/usr/bin/env bash
# Fetches Debian's own build of Asterisk 22 (from unstable, with its bundled
# pjproject) and the libraries it needs into a folder of its own, for the test
# tier that runs texts through a real Asterisk (test/asterisk-*.test.ts).
#
# Nothing is installed and the system's apt configuration is not touched: apt
# runs with a private source list and state under the cache folder, and the
# packages are only unpacked (dpkg -x). Unstable's binaries need a newer C
# library than the host's, so its C library is fetched as well and the tests
# start Asterisk through that folder's own dynamic loader with
# --library-path (test/helpers/asterisk-build.ts); modules dlopened later use
# the same path.
#
# Idempotent: once the folder is complete it returns at once without any
# network. The mirror is the one the host's apt sources name (or
# WEBSMS_DEBIAN_MIRROR), with the suite "unstable".
#
# usage: test/asterisk/fetch-debian.sh
#   WEBSMS_CACHE_DIR  where to keep it (default: $XDG_CACHE_HOME/websms or
#                     ~/.cache/websms); the build lands in <it>/asterisk-debian
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
home=${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}
cache=${WEBSMS_CACHE_DIR:-${XDG_CACHE_HOME:-$home/.cache}/websms}
dest=$cache/asterisk-debian
state=$cache/apt-unstable

# The very version the rest of the project's Asterisk facts were measured on.
# Unstable moves on; when this version is gone from the mirror the newest is
# taken instead, and said so.
version='1:22.10.1+dfsg+~cs6.17.60671434-1'

# asterisk and asterisk-modules, and the libraries of the daemon and of the
# modules in modules.conf (the check below names any that is missing). The
# English prompts in GSM (asterisk-core-sounds-en-gsm) are for the calls'
# tests: voicemail's "leave your message", the beep, a failed call's notice.
packages=(
  asterisk asterisk-modules
  asterisk-core-sounds-en-gsm
  libc6 libgcc-s1 libstdc++6 libcrypt1 libssl3t64 libjansson4 libxml2-16
  libxslt1.1 libsqlite3-0 liburiparser1 libedit2 libbsd0 libmd0 libtinfo6
  libuuid1 libcap2 libsystemd0 zlib1g libzstd1 libgsm1 libsrtp2-1 libnss3 libnspr4
)

case "$(uname -m)" in
  x86_64) arch=amd64 triplet=x86_64-linux-gnu loader=ld-linux-x86-64.so.2 ;;
  aarch64) arch=arm64 triplet=aarch64-linux-gnu loader=ld-linux-aarch64.so.1 ;;
  *) echo "fetch-debian: no Debian build for $(uname -m) here" >&2; exit 1 ;;
esac

stamp=$( { echo "$version $arch"; printf '%s\n' "${packages[@]}"; grep -E '^load' "$here/modules.conf"; } | sha256sum | cut -c1-16)

mkdir -p "$cache"
exec 9>"$cache/asterisk-debian.lock"
flock 9 # another test run fetching at the same time: wait for it

if [ "$(cat "$dest/.complete" 2>/dev/null || true)" = "$stamp" ]; then
  echo "fetch-debian: $(cat "$dest/.version") ready in $dest (cached)"
  exit 0
fi
started=$(date +%s%N)

mirror=${WEBSMS_DEBIAN_MIRROR:-}
if [ -z "$mirror" ]; then
  mirror=$( {
    grep -hsE '^[[:space:]]*URIs:' /etc/apt/sources.list.d/*.sources | awk '{ print $2 }'
    grep -hsE '^[[:space:]]*deb[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | sed -E 's/\[[^]]*\]//' | awk '{ print $2 }'
  } | grep -E '/debian/?$' | head -1 || true)
fi
if [ -z "$mirror" ]; then
  echo "fetch-debian: the host's apt sources name no Debian mirror; set WEBSMS_DEBIAN_MIRROR" >&2
  exit 1
fi

mkdir -p "$state/lists/partial" "$state/cache/archives/partial"
: > "$state/status"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror unstable main" > "$state/sources.list"
apt=(
  -qq
  -o "Dir::Etc::sourcelist=$state/sources.list" -o Dir::Etc::sourceparts=-
  -o "Dir::State::Lists=$state/lists" -o "Dir::State::status=$state/status"
  -o "Dir::Cache=$state/cache" -o "APT::Architecture=$arch"
  -o APT::Sandbox::User=root -o Debug::NoLocking=true
)
apt-get "${apt[@]}" update

work=$(mktemp -d "$cache/asterisk-debian.new.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/debs" "$work/root"
libs=("${packages[@]:2}")
(
  cd "$work/debs"
  if ! apt-get "${apt[@]}" download "asterisk=$version" "asterisk-modules=$version" "${libs[@]}" 2>/dev/null; then
    echo "fetch-debian: asterisk $version is no longer in unstable; taking the newest" >&2
    apt-get "${apt[@]}" download "${packages[@]}"
  fi
)
for deb in "$work"/debs/*.deb; do dpkg -x "$deb" "$work/root"; done

# Every library the daemon and the listed modules need must come from the
# folder itself: one taken from the host would be built for another C library.
lib=$work/root/usr/lib/$triplet
missing=$(
  for f in "$work/root/usr/sbin/asterisk" "$lib/libasteriskpj.so.2" \
    $(grep -E '^load' "$here/modules.conf" | sed -E 's/^load *=> *([^ ;]+).*/\1/' | sed "s|^|$lib/asterisk/modules/|"); do
    [ -f "$f" ] || { echo "$f: not in the packages"; continue; }
    "$lib/$loader" --inhibit-cache --library-path "$lib" --list "$f" 2>&1 \
      | grep -E 'not found|cannot open|=> /(lib|usr)' | sed "s|^|$(basename "$f"): |" || true
  done
)
if [ -n "$missing" ]; then
  echo "fetch-debian: libraries missing from the fetched packages (add their packages to this script):" >&2
  echo "$missing" >&2
  exit 1
fi

# Debian points sounds/en at the prompts' folder when the package is
# installed (asterisk-core-sounds-en); unpacked only, the link is made here.
ln -s en_US_f_Allison "$work/root/usr/share/asterisk/sounds/en"

dpkg-deb -f "$(ls "$work"/debs/asterisk_*.deb)" Version > "$work/root/.version"
sed -i 's/^/Asterisk /' "$work/root/.version"
echo "$stamp" > "$work/root/.complete"
rm -rf "$dest"
mv "$work/root" "$dest"
ms=$(( ($(date +%s%N) - started) / 1000000 ))
echo "fetch-debian: $(cat "$dest/.version") fetched into $dest in ${ms} ms"
