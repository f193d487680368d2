#!/bin/sh
# deploy_verify.sh BUILD_DIR — checks what `cmake --install` ships for
# production: installs BUILD_DIR into a temporary prefix (so the units'
# ExecStart points at real, just-built binaries), checks the layout, runs
# `systemd-analyze verify` on both units (the gateway template through an
# instance) and fails on any complaint about them, and dry-runs the
# sysusers entry. Needs systemd-analyze (Debian package systemd); no running
# systemd is needed. Cleans up after itself.
set -eu
build=${1:?usage: deploy_verify.sh BUILD_DIR}
command -v systemd-analyze >/dev/null || { echo "deploy_verify: systemd-analyze not found (apt-get install systemd)"; exit 1; }
tmp=$(mktemp -d /tmp/sb-deploy-verify.XXXXXX)
trap 'rm -rf "$tmp"' EXIT INT TERM
prefix=$tmp/prefix

cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; exit 1; }

fail=0
for f in bin/switchboard-gateway bin/switchboard-layerd \
         lib/systemd/system/switchboard-gateway@.service lib/systemd/system/switchboard-layerd.service \
         lib/sysusers.d/switchboard.conf \
         share/switchboard/gateway.ini share/switchboard/layerd.ini share/switchboard/switchboard.conf; do
  [ -f "$prefix/$f" ] || { echo "deploy_verify: not installed: $f"; fail=1; }
done
units=$prefix/lib/systemd/system
for u in switchboard-gateway@.service switchboard-layerd.service; do
  grep -q "^ExecStart=$prefix/bin/switchboard-" "$units/$u" || { echo "deploy_verify: $u: ExecStart not rewritten to $prefix/bin"; fail=1; }
  grep -q "^ExecStart=.* --config /etc/switchboard/" "$units/$u" || { echo "deploy_verify: $u: no --config /etc/switchboard/..."; fail=1; }
  for key in User=switchboard LimitNOFILE=200000 NoNewPrivileges=true ProtectSystem=strict ProtectHome=true \
             PrivateTmp=true Restart=on-failure Type=notify; do
    grep -qx "$key" "$units/$u" || { echo "deploy_verify: $u: missing $key"; fail=1; }
  done
done

# verify prints warnings (unknown keys, bad paths) but may still exit 0.
if ! (cd "$units" && systemd-analyze verify ./switchboard-layerd.service ./switchboard-gateway@8000.service) \
     >"$tmp/verify.log" 2>&1; then
  fail=1
fi
if grep -i 'switchboard' "$tmp/verify.log" >/dev/null || [ $fail -ne 0 ]; then
  cat "$tmp/verify.log"
  fail=1
fi

if command -v systemd-sysusers >/dev/null; then
  mkdir -p "$tmp/root/etc"
  systemd-sysusers --dry-run --root="$tmp/root" "$prefix/lib/sysusers.d/switchboard.conf" >"$tmp/sysusers.log" 2>&1 \
    || { cat "$tmp/sysusers.log"; echo "deploy_verify: sysusers entry rejected"; fail=1; }
fi

[ $fail -eq 0 ] && echo "deploy_verify: ok (units, layout, sysusers)"
exit $fail
