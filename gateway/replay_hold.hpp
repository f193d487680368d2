// replay_hold.hpp — a socket's live messages held while its history replay
// is under way, and the frames of the replay itself.
//
// A chat socket that joins with ?history=K or ?since=ID is a member of its
// room (live messages reach it) before layerd reads the room's stream, so
// the first live messages may also be in the replay. The socket holds its
// live frames until the replay has been queued, then releases them,
// dropping each whose id is not above the last replayed one: every message
// once, in order, none missing (docs/protocol.md, History). The held frames
// are the shared frames every member gets (nothing copied); an id is read
// from a frame's bytes only here, on release, never on the fan-out path.
// Bounded: past limits::max_history_held frames, or the socket's send
// queue bytes, a frame is refused (the caller counts it as a dropped
// delivery, as a full queue would).
//
// Threading: owned by one websocket_session, on its thread.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "common/stream_id.hpp"

namespace sb::gateway {

class replay_hold {
 public:
  using frame = std::shared_ptr<const std::string>;

  explicit replay_hold(std::size_t max_bytes) : max_bytes_(max_bytes) {}

  // False when full (the frame is not kept).
  bool hold(frame f);
  // The held frames in order, without those whose history id is at most
  // `last` (the last replayed id; none: keep all); `dropped` counts the
  // duplicates left out. Empties the hold.
  std::vector<frame> release(const std::optional<common::stream_id>& last, std::size_t& dropped);
  std::size_t size() const { return held_.size(); }

  // The history id of a chat line (a text frame `{"message":...,"id":"<ms>-<seq>",...}`
  // as common/event.hpp renders it), nullopt for any other frame.
  static std::optional<common::stream_id> frame_id(std::string_view frame_bytes);
  // A replayed event's frame: the live line's JSON plus "history": true.
  static common::result<frame> replay_frame(std::string_view event);
  // {"type":"recovery","complete":...,"count":n}
  static frame recovery_frame(bool complete, std::size_t count);

 private:
  std::vector<frame> held_;
  std::size_t bytes_ = 0;
  std::size_t max_bytes_;
};

}  // namespace sb::gateway
