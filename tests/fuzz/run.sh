#!/usr/bin/env bash
# tests/fuzz/run.sh SRC_DIR WORK_DIR SECONDS — build the libFuzzer targets with
# clang (ASan + UBSan) and run each for SECONDS. Run by ctest (label "fuzz");
# fails on any crash, sanitizer report or leak.
set -euo pipefail
src="$1"; work="$2"; secs="${3:-15}"
mkdir -p "$work"
cxx="${SB_FUZZ_CXX:-clang++}"
flags=(-std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I"$src")

"$cxx" "${flags[@]}" "$src/tests/fuzz/ws_frame_fuzz.cpp" "$src/gateway/ws_frame.cpp" -o "$work/ws_frame_fuzz"
"$cxx" "${flags[@]}" "$src/tests/fuzz/proto_decode_fuzz.cpp" "$src/proto/codec.cpp" -o "$work/proto_decode_fuzz"
"$cxx" "${flags[@]}" "$src/tests/fuzz/event_fuzz.cpp" "$src/common/event.cpp" -o "$work/event_fuzz"
"$cxx" "${flags[@]}" "$src/tests/fuzz/http_request_fuzz.cpp" "$src/gateway/request_checks.cpp" "$src/gateway/join_query.cpp" \
  "$src/gateway/query_param.cpp" "$src/gateway/ws_handshake.cpp" "$src/common/names.cpp" "$src/common/unicode_word_table.cpp" \
  "$src/common/digest.cpp" "$src/common/base64.cpp" -lcrypto -o "$work/http_request_fuzz"
"$cxx" "${flags[@]}" "$src/tests/fuzz/worker_wire_fuzz.cpp" "$src/gateway/worker_wire.cpp" "$src/gateway/render_spec.cpp" \
  "$src/common/event.cpp" "$src/common/names.cpp" "$src/common/unicode_word_table.cpp" "$src/common/digest.cpp" \
  "$src/common/base64.cpp" -lcrypto -o "$work/worker_wire_fuzz"
"$cxx" "${flags[@]}" "$src/tests/fuzz/jwt_fuzz.cpp" "$src/gateway/token_auth.cpp" "$src/gateway/query_param.cpp" \
  "$src/gateway/jwt_verifier.cpp" \
  "$src/common/names.cpp" "$src/common/unicode_word_table.cpp" "$src/common/digest.cpp" "$src/common/base64.cpp" \
  -lcrypto -o "$work/jwt_fuzz"

for target in ws_frame_fuzz proto_decode_fuzz event_fuzz http_request_fuzz worker_wire_fuzz jwt_fuzz; do
  corpus="$work/corpus_$target"
  mkdir -p "$corpus"
  echo "== $target for ${secs}s"
  (cd "$work" && "./$target" -max_total_time="$secs" -rss_limit_mb=1024 -max_len=4096 -print_final_stats=1 \
     "$corpus" 2>&1 | tail -n 12)
  # libFuzzer exits non-zero on a finding; pipefail carries it out.
done
echo "== fuzz ok"
