// curve_keys.cpp — see curve_keys.hpp.
#include "common/curve_keys.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <zmq.h>

namespace sb::common {
namespace {

// A key file is a few lines; anything bigger is not one.
constexpr std::size_t max_key_file_bytes = 4096;

result<std::string> read_small_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return error{"cannot read " + path + ": " + std::strerror(errno)};
  std::string text(max_key_file_bytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > max_key_file_bytes) return error{path + " is not a key file (over 4096 bytes)"};
  return text;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

bool write_file(const std::string& path, const std::string& text, mode_t mode, std::string& why) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    why = "cannot create " + path + ": " + std::strerror(errno);
    return false;
  }
  ::fchmod(fd, mode);  // the umask may have taken bits away; never adds any beyond `mode`
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  if (!ok) why = "cannot write " + path + ": " + std::strerror(errno);
  ::close(fd);
  return ok;
}

}  // namespace

bool curve_available() { return zmq_has("curve") != 0; }

bool is_z85_key(std::string_view text) {
  if (text.size() != 40) return false;
  std::array<char, 41> z{};
  std::memcpy(z.data(), text.data(), 40);
  std::array<std::uint8_t, 32> raw{};
  return zmq_z85_decode(raw.data(), z.data()) != nullptr;
}

std::string z85_of_raw_key(std::string_view raw32) {
  if (raw32.size() != 32) return {};
  std::array<char, 41> z{};
  if (!zmq_z85_encode(z.data(), reinterpret_cast<const std::uint8_t*>(raw32.data()), 32)) return {};
  return std::string(z.data(), 40);
}

result<std::string> parse_key_text(std::string_view text, const std::string& what) {
  std::string key;
  int line_no = 0;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    std::string_view line = trim(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    ++line_no;
    // `#` is a Z85 digit too, but never the first of a key.
    if (line.empty() || line.front() == '#') continue;
    if (!key.empty()) return error{what + " line " + std::to_string(line_no) + ": more than one key"};
    if (!is_z85_key(line)) {
      return error{what + " line " + std::to_string(line_no) + ": not a CURVE key (40 Z85 characters expected)"};
    }
    key = line;
  }
  if (key.empty()) return error{what + ": no key in the file"};
  return key;
}

result<curve_keypair> read_secret_key_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return error{"cannot read " + path + ": " + std::strerror(errno)};
  if (st.st_mode & S_IRWXO) {
    return error{path + " is a secret key readable by other users (mode " +
                 std::to_string((st.st_mode >> 6) & 7) + std::to_string((st.st_mode >> 3) & 7) +
                 std::to_string(st.st_mode & 7) + "); chmod o-rwx it"};
  }
  auto text = read_small_file(path);
  if (!text) return error{text.error_text()};
  auto key = parse_key_text(text.value(), path);
  if (!key) return error{key.error_text()};
  std::array<char, 41> pub{};
  if (zmq_curve_public(pub.data(), key.value().c_str()) != 0) {
    return error{path + ": cannot derive the public key: " + zmq_strerror(zmq_errno())};
  }
  return curve_keypair{std::string(pub.data(), 40), key.value()};
}

result<std::string> read_public_key_file(const std::string& path) {
  auto text = read_small_file(path);
  if (!text) return error{text.error_text()};
  return parse_key_text(text.value(), path);
}

result<curve_keypair> generate_keypair() {
  std::array<char, 41> pub{}, sec{};
  if (zmq_curve_keypair(pub.data(), sec.data()) != 0) {
    return error{std::string("cannot make a CURVE key pair: ") + zmq_strerror(zmq_errno())};
  }
  return curve_keypair{std::string(pub.data(), 40), std::string(sec.data(), 40)};
}

result<std::string> write_keypair(const std::string& prefix, const curve_keypair& pair) {
  std::string why;
  const std::string secret_path = prefix + ".key", public_path = prefix + ".pub";
  if (!write_file(secret_path,
                  "# Switchboard CURVE secret key: keep it private (public key " + pair.public_key + ")\n" +
                      pair.secret_key + "\n",
                  0600, why)) {
    return error{why};
  }
  if (!write_file(public_path, "# Switchboard CURVE public key\n" + pair.public_key + "\n", 0644, why)) {
    ::unlink(secret_path.c_str());
    return error{why};
  }
  return pair.public_key;
}

result<curve_client_keys> load_curve_client_keys(const std::string& secret_file, const std::string& server_public_file) {
  if (!curve_available()) return error{curve_missing_text};
  auto own = read_secret_key_file(secret_file);
  if (!own) return error{own.error_text()};
  auto server = read_public_key_file(server_public_file);
  if (!server) return error{server.error_text()};
  return curve_client_keys{std::move(own.value()), std::move(server.value())};
}

void use_curve_client(zmq::socket_t& socket, const curve_client_keys& keys) {
  socket.set(zmq::sockopt::curve_serverkey, keys.server_public);
  socket.set(zmq::sockopt::curve_publickey, keys.own.public_key);
  socket.set(zmq::sockopt::curve_secretkey, keys.own.secret_key);
}

}  // namespace sb::common
