// Hand-written blocking RFC 6455 WebSocket client for integration tests.
//
// Deliberately low-level: besides well-formed traffic it can send anything on the wire
// (unmasked frames, RSV bits, reserved opcodes, fragmented control frames, bad UTF-8,
// raw bytes), which library clients refuse to do. Every call is bounded by a timeout;
// nothing throws. Not thread-safe: use one client per thread.
//
// Receiving, from low to high level:
//   recv_frame    one raw frame off the wire (no reassembly, no automatic pong)
//   recv_message  one whole message (fragments joined); pings answered and skipped,
//                 pongs returned
//   recv_text     the next text message (skips control frames)
//   recv_json     the next JSON message; "batch" frames are unpacked into their items;
//                 served from the backlog first
//   recv_until    the first JSON message matching a predicate; the others stay in the
//                 backlog (in order) for later recv_json / recv_until calls
// recv_frame / recv_message / recv_text read the wire directly and bypass the backlog.
//
// A close frame from the server is answered with a close frame (same code) unless
// WsOptions::auto_close_reply is false. close_code(): 0 while open, the server's code,
// 1005 for a close frame without a code, 1006 when the TCP connection ended without one.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/http_client.h"
#include "support/net_stream.h"

namespace sabla::test {

namespace opcode {
inline constexpr std::uint8_t continuation = 0x0;
inline constexpr std::uint8_t text = 0x1;
inline constexpr std::uint8_t binary = 0x2;
inline constexpr std::uint8_t close = 0x8;
inline constexpr std::uint8_t ping = 0x9;
inline constexpr std::uint8_t pong = 0xA;
}  // namespace opcode

struct Frame {
  std::uint8_t opcode = 0;
  std::string payload;  // unmasked
  bool fin = true;
  std::uint8_t rsv = 0;  // RSV1..RSV3 as a 3-bit value (RSV1 = 4, RSV2 = 2, RSV3 = 1)
  bool masked = false;   // as received (a server must not mask)
};

struct WsOptions {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string path = "/ws";
  std::string subprotocol;            // e.g. "sabla.viewer.v1"; empty: header not sent
  std::optional<std::string> origin;  // Origin header
  std::optional<std::string> cookie;  // whole Cookie header value, e.g. "sabla_session=abc"
  std::optional<std::string> bearer;  // sends "Authorization: Bearer <bearer>"
  Headers extra_headers;  // sent verbatim; one named like a default header replaces it
  bool tls = false;
  int timeout_ms = 5000;  // connect + TLS + upgrade budget
  // Budget of one send; a timed-out send may leave half a frame on the wire, so
  // treat it as a broken connection. Multi-socket loops keep it short.
  int write_timeout_ms = 10000;
  bool auto_close_reply = true;
};

class WsClient;

struct HandshakeResult {
  int status_code = 0;  // 0: no HTTP response (connection failure, timeout, garbage)
  std::string reason;   // HTTP reason phrase
  Headers headers;      // response headers, names lower-cased
  std::string body;     // body of a refused upgrade (when Content-Length says so)
  std::unique_ptr<WsClient> client;  // non-null only for a verified 101
  std::string error;                 // why client is null
  // First value of a header (case-insensitive name), "" if absent.
  std::string header(std::string_view name) const;
};

// --- Pure helpers (exposed for self-tests and hand-made frames) -------------------

// Builds one frame. rsv is a 3-bit value. With mask=true a mask key is used: `mask_key`
// if given, else a random one.
std::string encode_frame(std::uint8_t opcode, std::string_view payload, bool fin = true,
                         std::uint8_t rsv = 0, bool mask = true,
                         const std::array<std::uint8_t, 4>* mask_key = nullptr);

enum class DecodeStatus { complete, incomplete, error };
// Decodes one frame from the front of `buf`. On complete, fills *out (payload unmasked)
// and *consumed. error: length with the top bit set or above max_payload.
DecodeStatus decode_frame(std::string_view buf, Frame* out, std::size_t* consumed,
                          std::uint64_t max_payload = 256ull << 20);

std::string base64_encode(std::string_view bytes);
// Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key + GUID)).
std::string websocket_accept(std::string_view key);
// `type` of a JSON message, "" if absent or not a string.
std::string json_type(const nlohmann::json& j);

// --- Client -----------------------------------------------------------------------

class WsClient {
 public:
  // Connects and upgrades; nullptr (and *error) on any failure, including a refused
  // upgrade (the message then contains the HTTP status). Use try_connect for the status.
  static std::unique_ptr<WsClient> connect(const WsOptions& opts, std::string* error = nullptr);
  static HandshakeResult try_connect(const WsOptions& opts);

  ~WsClient();
  WsClient(const WsClient&) = delete;
  WsClient& operator=(const WsClient&) = delete;

  // Sending (client frames are masked unless mask=false). false on a write failure.
  bool send_text(std::string_view text);
  bool send_json(const nlohmann::json& j);  // dump() then send_text
  bool send_binary(std::string_view bytes);
  bool send_frame(std::uint8_t opcode, std::string_view payload, bool fin = true,
                  std::uint8_t rsv = 0, bool mask = true);
  bool send_raw(std::string_view bytes);
  // Sends `text` as a text message split into frames of at most `chunk` bytes.
  bool send_fragmented(std::string_view text, std::size_t chunk);
  bool ping(std::string_view payload = {});
  bool pong(std::string_view payload = {});
  // Sends a close frame; code 0 sends an empty close payload. Does not wait.
  bool close(std::uint16_t code = 1000, std::string_view reason = {});
  // Drops the TCP connection without a close frame (rst=true: with a TCP RST).
  void abort(bool rst = false);

  // Receiving (see top of file). nullopt on timeout, close or error; check
  // is_closed(), close_code() and last_error() to tell which.
  std::optional<Frame> recv_frame(int timeout_ms);
  std::optional<Frame> recv_message(int timeout_ms);
  std::optional<std::string> recv_text(int timeout_ms);
  std::optional<nlohmann::json> recv_json(int timeout_ms);
  std::optional<nlohmann::json> recv_until(const std::function<bool(const nlohmann::json&)>& pred,
                                           int timeout_ms);
  // recv_until for json_type(j) == type.
  std::optional<nlohmann::json> recv_type(std::string_view type, int timeout_ms);
  // Collects JSON messages (backlog first) until none arrives for quiet_ms, the
  // connection closes, or timeout_ms passes in total.
  std::vector<nlohmann::json> drain(int quiet_ms, int timeout_ms = 10000);
  // Reads and discards until the server closes; returns close_code() (0 on timeout).
  int wait_close(int timeout_ms);

  // Multi-socket mode: poll(2) many clients' fd() for POLLIN yourself, then call
  // read_available() on the ready ones. It never waits: it reads what the socket
  // holds now and returns every complete JSON message (backlog first, batches
  // unpacked); a partial frame stays buffered for the next call. A dropped
  // connection shows as is_closed() afterwards (1006 without a close frame).
  int fd() const;  // -1 once the connection is gone
  std::vector<nlohmann::json> read_available();

  // Messages received by recv_json/recv_until but not yet returned (arrival order).
  const std::deque<nlohmann::json>& backlog() const { return backlog_; }
  void clear_backlog() { backlog_.clear(); }

  int close_code() const { return close_code_; }
  const std::string& close_reason() const { return close_reason_; }
  bool is_closed() const { return close_code_ != 0; }
  bool close_sent() const { return close_sent_; }
  const std::string& last_error() const { return last_error_; }

  int status_code() const { return status_code_; }  // 101
  const Headers& response_headers() const { return headers_; }
  std::string response_header(std::string_view name) const;
  const std::string& subprotocol() const { return subprotocol_; }  // as selected by server

 private:
  WsClient() = default;
  bool write(std::string_view bytes);
  bool next_json(Clock::time_point deadline, std::vector<nlohmann::json>* items);

  std::unique_ptr<NetStream> stream_;
  bool auto_close_reply_ = true;
  int write_timeout_ms_ = 10000;
  std::string rbuf_;  // bytes received, not yet decoded
  bool eof_ = false;
  std::deque<nlohmann::json> backlog_;
  // reassembly state for recv_message
  bool in_fragment_ = false;
  std::uint8_t frag_opcode_ = 0;
  std::string frag_buf_;

  int close_code_ = 0;
  std::string close_reason_;
  bool close_sent_ = false;
  std::string last_error_;

  int status_code_ = 0;
  Headers headers_;
  std::string subprotocol_;
};

}  // namespace sabla::test
