#!/usr/bin/env bash
# tests/fuzz/run.sh SRC_DIR WORK_DIR SECONDS — build the libFuzzer targets with
# clang (ASan + UBSan) and run each for SECONDS. Run by ctest (label "fuzz");
# fails on any crash, sanitizer report or leak.
set -euo pipefail
src="$1"; work="$2"; secs="${3:-15}"
mkdir -p "$work"
cxx="${SB_FUZZ_CXX:-clang++}"
flags=(-std=c++20 -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined -I"$src")

# Each target: its harness, then the sources it tests.
declare -A parts=(
  [ws_frame_fuzz]="tests/fuzz/ws_frame_fuzz.cpp gateway/ws_frame.cpp"
  [proto_decode_fuzz]="tests/fuzz/proto_decode_fuzz.cpp proto/codec.cpp"
  [event_fuzz]="tests/fuzz/event_fuzz.cpp common/event.cpp"
  [http_request_fuzz]="tests/fuzz/http_request_fuzz.cpp gateway/request_checks.cpp gateway/join_query.cpp
    gateway/query_param.cpp gateway/ws_handshake.cpp common/names.cpp common/unicode_word_table.cpp
    common/digest.cpp common/base64.cpp"
  [worker_wire_fuzz]="tests/fuzz/worker_wire_fuzz.cpp common/worker_wire.cpp common/render_spec.cpp common/worker_event.cpp
    common/event.cpp common/names.cpp common/unicode_word_table.cpp common/digest.cpp common/base64.cpp"
  [jwt_fuzz]="tests/fuzz/jwt_fuzz.cpp gateway/token_auth.cpp gateway/query_param.cpp gateway/jwt_verifier.cpp
    common/names.cpp common/unicode_word_table.cpp common/digest.cpp common/base64.cpp"
)
targets=(ws_frame_fuzz proto_decode_fuzz event_fuzz http_request_fuzz worker_wire_fuzz jwt_fuzz)

# Every source compiled once (sources shared by several targets too), as
# many at a time as there are cores, then each target linked.
mkdir -p "$work/obj"
printf '%s\n' ${parts[@]} | sort -u > "$work/sources"
export cxx src work
export flags_text="${flags[*]}"
xargs -P "$(nproc)" -I{} sh -c \
  'o="$work/obj/$(echo "{}" | tr / _).o"; $cxx $flags_text -fsanitize=fuzzer-no-link -c "$src/{}" -o "$o" || exit 255' \
  < "$work/sources"
for target in "${targets[@]}"; do
  objs=()
  for f in ${parts[$target]}; do objs+=("$work/obj/$(echo "$f" | tr / _).o"); done
  "$cxx" "${flags[@]}" -fsanitize=fuzzer "${objs[@]}" -lcrypto -o "$work/$target"
done

for target in "${targets[@]}"; do
  corpus="$work/corpus_$target"
  mkdir -p "$corpus"
  echo "== $target for ${secs}s"
  (cd "$work" && "./$target" -max_total_time="$secs" -rss_limit_mb=1024 -max_len=4096 -print_final_stats=1 \
     "$corpus" 2>&1 | tail -n 12)
  # libFuzzer exits non-zero on a finding; pipefail carries it out.
done
echo "== fuzz ok"
