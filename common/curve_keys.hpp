// curve_keys.hpp — ZeroMQ CURVE keys on disk: reading a secret or public
// key file, and writing a new pair (switchboard-cli keygen).
//
// Every Switchboard binary that speaks CURVE (layerd's ROUTER, the
// gateways' and switchboard-cli's DEALERs) reads its keys here, so the
// file format is defined once (docs/operations.md, "Securing layerd's
// port"): `#` comment lines and blank lines, then one line holding a
// 40-character Z85 key. Keys are checked with libzmq's own Z85 decoder,
// and a secret file's public half is derived with zmq_curve_public, so a
// pair can never disagree. A secret key file that other users may read is
// refused, as ssh refuses such a private key.
//
// Pure functions over files; any thread (start-up only in practice).
#pragma once

#include <string>
#include <string_view>

#include <zmq.hpp>

#include "common/result.hpp"

namespace sb::common {

struct curve_keypair {
  std::string public_key;  // Z85, 40 characters
  std::string secret_key;  // Z85, 40 characters
};

// Whether this libzmq was built with CURVE (zmq_has("curve")).
bool curve_available();

// The text to print when it is not.
inline constexpr const char* curve_missing_text =
    "this libzmq has no CURVE support (zmq_has(\"curve\") is false); install a libzmq built with libsodium";

// 40 Z85 characters that decode to a 32-byte key.
bool is_z85_key(std::string_view text);

// The Z85 text of 32 raw key bytes (a ZAP request's credentials).
std::string z85_of_raw_key(std::string_view raw32);

// The key of a key file's text: comments and blank lines skipped, exactly
// one key line. `what` names the file in errors.
result<std::string> parse_key_text(std::string_view text, const std::string& what);

// A secret key file: its key and the public key derived from it.
result<curve_keypair> read_secret_key_file(const std::string& path);
// A public key file.
result<std::string> read_public_key_file(const std::string& path);

// A new pair from zmq_curve_keypair.
result<curve_keypair> generate_keypair();

// Writes `<prefix>.key` (the secret key, mode 0600, never over an
// existing file) and `<prefix>.pub`; returns the public key.
result<std::string> write_keypair(const std::string& prefix, const curve_keypair& pair);

// What a connecting DEALER (a gateway, switchboard-cli) needs: its own
// pair and layerd's public key.
struct curve_client_keys {
  curve_keypair own;
  std::string server_public;
};

// Reads both files; also fails when this libzmq has no CURVE.
result<curve_client_keys> load_curve_client_keys(const std::string& secret_file, const std::string& server_public_file);

// Makes `socket` a CURVE client of the server key (before connect()).
void use_curve_client(zmq::socket_t& socket, const curve_client_keys& keys);

}  // namespace sb::common
