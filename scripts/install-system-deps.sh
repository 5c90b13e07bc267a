#!/usr/bin/env bash
# Installs the system packages the stack and its tests need, when missing.
# As root on Debian/Ubuntu it uses apt; otherwise it names what to install and fails.
set -euo pipefail

need=()
command -v mosquitto >/dev/null || need+=(mosquitto)
command -v mosquitto_pub >/dev/null || need+=(mosquitto-clients)
# The PostGIS package follows the installed PostgreSQL server's major version.
pg_major=""
if [ -d /usr/lib/postgresql ]; then
  pg_major=$(ls /usr/lib/postgresql | sort -n | tail -n 1)
fi
if [ -z "$pg_major" ]; then
  need+=(postgresql)
elif [ ! -e "/usr/share/postgresql/$pg_major/extension/postgis.control" ]; then
  need+=("postgresql-$pg_major-postgis-3")
fi
ldconfig -p 2>/dev/null | grep -q mod_spatialite || [ -e /usr/lib/x86_64-linux-gnu/mod_spatialite.so ] \
  || [ -e /usr/lib/aarch64-linux-gnu/mod_spatialite.so ] || need+=(libsqlite3-mod-spatialite)
# Kivy offscreen needs EGL and Mesa's software GL.
ldconfig -p 2>/dev/null | grep -q 'libEGL.so.1' || need+=(libegl1)
[ -e /usr/lib/x86_64-linux-gnu/dri/swrast_dri.so ] || [ -e /usr/lib/aarch64-linux-gnu/dri/swrast_dri.so ] \
  || need+=(libgl1-mesa-dri)
# Kiosk screens in Chinese need a CJK font (the app finds it through fontconfig paths).
[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || need+=(fonts-wqy-microhei)
# The app's start-up benchmark (scripts/bench_app_startup.py) runs it on an X server.
command -v Xvfb >/dev/null || need+=(xvfb)
# The desk console: Leaflet from npm (node_modules/, never committed), browser tests in Chromium.
command -v npm >/dev/null || need+=(npm)
command -v chromium >/dev/null || need+=(chromium)
# The end-to-end benchmark's load generator (bench/loader.c) is built against libmosquitto.
[ -e /usr/include/mosquitto.h ] || need+=(libmosquitto-dev)
# The shipped Prometheus alert rules are checked and unit-tested by promtool (its package).
command -v promtool >/dev/null || need+=(prometheus)
# `docker-compose config` checks the compose file without a container engine (Debian's 1.29).
command -v docker-compose >/dev/null || need+=(docker-compose)
for extra in "$@"; do
  command -v "$extra" >/dev/null || need+=("$extra")
done

install_node_modules() {
  # package-lock.json pins the exact files; reinstall only when it changed.
  local here; here="$(cd "$(dirname "$0")/.." && pwd)"
  if [ ! -e "$here/node_modules/.package-lock.json" ] \
    || [ "$here/package-lock.json" -nt "$here/node_modules/.package-lock.json" ]; then
    (cd "$here" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  fi
}

if [ ${#need[@]} -eq 0 ]; then
  install_node_modules
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing system packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null
  apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${need[@]}" >/dev/null
  if [ -z "$pg_major" ]; then
    pg_major=$(ls /usr/lib/postgresql | sort -n | tail -n 1)
    apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "postgresql-$pg_major-postgis-3" >/dev/null
  fi
  install_node_modules
else
  echo "missing system packages: ${need[*]}" >&2
  echo "install them (e.g. sudo apt-get install ${need[*]}) and run the command again" >&2
  exit 1
fi
