#!/usr/bin/env bash
# scripts/deps.sh — install the Debian 12 packages Switchboard builds, runs and tests with.
# Sourced by scripts/run and scripts/test. Installs only what is missing;
# runs apt-get update first; uses sudo when not root.
set -euo pipefail

SB_BUILD_PACKAGES=(
  build-essential cmake pkg-config
  libboost-dev libboost-program-options-dev
  cppzmq-dev libzmq3-dev
  libmsgpack-cxx-dev libhiredis-dev libspdlog-dev nlohmann-json3-dev
  googletest libgtest-dev libssl-dev libsystemd-dev
)
SB_RUN_PACKAGES=(redis-server redis-tools curl)
# Every program and Python module tests/, bench/ and scripts/ start or
# import, by its Debian package (docs/checking-deps.md: how to check).
SB_TEST_PACKAGES=(redis-server redis-tools python3 python3-websockets python3-zmq curl openssl
                  chromium chromium-driver python3-selenium fonts-wqy-zenhei clang libclang-rt-14-dev
                  nodejs node-ws python3-channels-redis python3-msgpack nginx-light
                  systemd
                  python3-daphne python3-django python3-django-channels python3-asgiref
                  redis-sentinel)

sb_install_packages() {
  local missing=()
  local p
  for p in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$p")
    fi
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  echo "== installing: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

sb_build() {
  local top="$1"
  cmake -S "$top" -B "$top/build" -DCMAKE_BUILD_TYPE=Release
  cmake --build "$top/build" -j"$(nproc)"
}
