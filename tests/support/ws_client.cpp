#include "support/ws_client.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <random>

namespace sabla::test {

namespace {

constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

void random_bytes(unsigned char* out, std::size_t n) {
  if (RAND_bytes(out, static_cast<int>(n)) == 1) return;
  static thread_local std::mt19937 gen{std::random_device{}()};
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<unsigned char>(gen());
}

std::string dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// True if comma-separated header `value` contains `token` (case-insensitive).
bool has_token(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    std::size_t comma = value.find(',');
    std::string_view t = value.substr(0, comma);
    while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
    while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
    if (iequals(t, token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

bool is_batch(const nlohmann::json& j) {
  if (json_type(j) != "batch") return false;
  auto it = j.find("items");
  return it != j.end() && it->is_array();
}

}  // namespace

// ---------------------------------------------------------------------------------------

std::string base64_encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(n < 0 ? 0 : static_cast<std::size_t>(n));
  return out;
}

std::string websocket_accept(std::string_view key) {
  std::string input(key);
  input += kGuid;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(input.data(), input.size(), md, &len, EVP_sha1(), nullptr) != 1) return {};
  return base64_encode(std::string_view(reinterpret_cast<const char*>(md), len));
}

std::string json_type(const nlohmann::json& j) {
  if (!j.is_object()) return {};
  auto it = j.find("type");
  if (it == j.end() || !it->is_string()) return {};
  return it->get<std::string>();
}

std::string encode_frame(std::uint8_t op, std::string_view payload, bool fin, std::uint8_t rsv,
                         bool mask, const std::array<std::uint8_t, 4>* mask_key) {
  std::string f;
  f.reserve(payload.size() + 14);
  f.push_back(static_cast<char>((fin ? 0x80 : 0) | ((rsv & 0x7) << 4) | (op & 0x0F)));
  const std::uint8_t mbit = mask ? 0x80 : 0;
  const std::uint64_t n = payload.size();
  if (n < 126) {
    f.push_back(static_cast<char>(mbit | n));
  } else if (n <= 0xFFFF) {
    f.push_back(static_cast<char>(mbit | 126));
    f.push_back(static_cast<char>((n >> 8) & 0xFF));
    f.push_back(static_cast<char>(n & 0xFF));
  } else {
    f.push_back(static_cast<char>(mbit | 127));
    for (int i = 7; i >= 0; --i) f.push_back(static_cast<char>((n >> (8 * i)) & 0xFF));
  }
  if (!mask) {
    f.append(payload);
    return f;
  }
  std::array<std::uint8_t, 4> key{};
  if (mask_key) {
    key = *mask_key;
  } else {
    random_bytes(key.data(), key.size());
  }
  for (std::uint8_t b : key) f.push_back(static_cast<char>(b));
  const std::size_t start = f.size();
  f.append(payload);
  for (std::size_t i = 0; i < payload.size(); ++i) f[start + i] = static_cast<char>(f[start + i] ^ key[i & 3]);
  return f;
}

DecodeStatus decode_frame(std::string_view buf, Frame* out, std::size_t* consumed,
                          std::uint64_t max_payload) {
  if (buf.size() < 2) return DecodeStatus::incomplete;
  const auto* b = reinterpret_cast<const unsigned char*>(buf.data());
  const bool fin = b[0] & 0x80;
  const std::uint8_t rsv = (b[0] >> 4) & 0x7;
  const std::uint8_t op = b[0] & 0x0F;
  const bool masked = b[1] & 0x80;
  std::uint64_t n = b[1] & 0x7F;
  std::size_t pos = 2;
  if (n == 126) {
    if (buf.size() < 4) return DecodeStatus::incomplete;
    n = (std::uint64_t{b[2]} << 8) | b[3];
    pos = 4;
  } else if (n == 127) {
    if (buf.size() < 10) return DecodeStatus::incomplete;
    n = 0;
    for (int i = 0; i < 8; ++i) n = (n << 8) | b[2 + i];
    pos = 10;
    if (n >> 63) return DecodeStatus::error;
  }
  if (n > max_payload) return DecodeStatus::error;
  std::array<std::uint8_t, 4> key{};
  if (masked) {
    if (buf.size() < pos + 4) return DecodeStatus::incomplete;
    for (int i = 0; i < 4; ++i) key[i] = b[pos + i];
    pos += 4;
  }
  if (buf.size() - pos < n) return DecodeStatus::incomplete;
  out->opcode = op;
  out->fin = fin;
  out->rsv = rsv;
  out->masked = masked;
  out->payload.assign(buf.data() + pos, static_cast<std::size_t>(n));
  if (masked) {
    for (std::size_t i = 0; i < out->payload.size(); ++i)
      out->payload[i] = static_cast<char>(out->payload[i] ^ key[i & 3]);
  }
  *consumed = pos + static_cast<std::size_t>(n);
  return DecodeStatus::complete;
}

std::string HandshakeResult::header(std::string_view name) const { return sabla::test::header(headers, name); }

// ---------------------------------------------------------------------------------------

HandshakeResult WsClient::try_connect(const WsOptions& o) {
  HandshakeResult r;
  const auto deadline = deadline_in(o.timeout_ms);
  auto s = NetStream::connect(o.host, o.port, o.tls, o.timeout_ms, &r.error);
  if (!s) return r;

  unsigned char raw_key[16];
  random_bytes(raw_key, sizeof raw_key);
  const std::string key = base64_encode(std::string_view(reinterpret_cast<char*>(raw_key), sizeof raw_key));

  Headers defaults = {{"Host", o.host + ":" + std::to_string(o.port)},
                      {"Upgrade", "websocket"},
                      {"Connection", "Upgrade"},
                      {"Sec-WebSocket-Key", key},
                      {"Sec-WebSocket-Version", "13"}};
  if (!o.subprotocol.empty()) defaults.emplace_back("Sec-WebSocket-Protocol", o.subprotocol);
  if (o.origin) defaults.emplace_back("Origin", *o.origin);
  if (o.cookie) defaults.emplace_back("Cookie", *o.cookie);
  if (o.bearer) defaults.emplace_back("Authorization", "Bearer " + *o.bearer);
  std::string req = "GET " + o.path + " HTTP/1.1\r\n";
  for (const auto& [k, v] : defaults) {
    if (std::any_of(o.extra_headers.begin(), o.extra_headers.end(),
                    [&](const auto& e) { return iequals(e.first, k); }))
      continue;  // replaced by an extra header of the same name
    req += k + ": " + v + "\r\n";
  }
  for (const auto& [k, v] : o.extra_headers) req += k + ": " + v + "\r\n";
  req += "\r\n";
  // The accept check follows an overridden key.
  const std::string sent_key = [&] {
    for (const auto& [k, v] : o.extra_headers)
      if (iequals(k, "sec-websocket-key")) return v;
    return key;
  }();
  if (s->write_all(req, deadline, &r.error) != IoStatus::ok) {
    r.error = "sending upgrade request: " + r.error;
    return r;
  }

  std::string buf;
  std::size_t head_end = 0;
  if (!read_http_head(*s, deadline, &buf, &head_end, &r.error)) {
    r.error = "upgrade response: " + r.error;
    return r;
  }
  if (!parse_http_head(std::string_view(buf).substr(0, head_end), &r.status_code, &r.reason, &r.headers)) {
    r.status_code = 0;
    r.error = "malformed upgrade response: " + buf.substr(0, std::min<std::size_t>(head_end, 200));
    return r;
  }

  if (r.status_code != 101) {
    r.error = "upgrade refused: HTTP " + std::to_string(r.status_code) + " " + r.reason;
    // Collect the body when its length is known (bounded by the same deadline).
    const std::string cl = r.header("content-length");
    std::size_t n = 0;
    auto [p, ec] = std::from_chars(cl.data(), cl.data() + cl.size(), n);
    if (!cl.empty() && ec == std::errc() && p == cl.data() + cl.size() && n <= (1u << 20)) {
      std::string err;
      while (buf.size() < head_end + n && s->read_some(&buf, deadline, 16384, &err) == IoStatus::ok) {
      }
    }
    r.body = buf.substr(head_end);
    if (!cl.empty() && r.body.size() > n) r.body.resize(n);
    return r;
  }

  if (!iequals(r.header("upgrade"), "websocket")) {
    r.error = "101 without 'Upgrade: websocket' (got '" + r.header("upgrade") + "')";
    return r;
  }
  if (!has_token(r.header("connection"), "upgrade")) {
    r.error = "101 without 'Connection: Upgrade' (got '" + r.header("connection") + "')";
    return r;
  }
  const std::string expected = websocket_accept(sent_key);
  if (r.header("sec-websocket-accept") != expected) {
    r.error = "bad Sec-WebSocket-Accept: got '" + r.header("sec-websocket-accept") + "', expected '" +
              expected + "'";
    return r;
  }
  const std::string chosen = r.header("sec-websocket-protocol");
  if (!chosen.empty() && !has_token(o.subprotocol, chosen)) {
    r.error = "server selected subprotocol '" + chosen + "' which was not offered";
    return r;
  }

  std::unique_ptr<WsClient> c(new WsClient());
  c->stream_ = std::move(s);
  c->auto_close_reply_ = o.auto_close_reply;
  c->write_timeout_ms_ = o.write_timeout_ms;
  c->rbuf_ = buf.substr(head_end);  // frames the server sent right after the 101
  c->status_code_ = r.status_code;
  c->headers_ = r.headers;
  c->subprotocol_ = chosen;
  r.client = std::move(c);
  return r;
}

std::unique_ptr<WsClient> WsClient::connect(const WsOptions& opts, std::string* error) {
  HandshakeResult r = try_connect(opts);
  if (!r.client && error) *error = r.error;
  return std::move(r.client);
}

WsClient::~WsClient() = default;

std::string WsClient::response_header(std::string_view name) const { return header(headers_, name); }

// --- sending -----------------------------------------------------------------------------

bool WsClient::write(std::string_view bytes) {
  if (!stream_ || !stream_->is_open()) {
    last_error_ = "write: connection closed";
    return false;
  }
  // A bounded budget (10 s unless WsOptions says otherwise): a stalled server
  // must not hang a test forever.
  return stream_->write_all(bytes, deadline_in(write_timeout_ms_), &last_error_) == IoStatus::ok;
}

bool WsClient::send_raw(std::string_view bytes) { return write(bytes); }

bool WsClient::send_frame(std::uint8_t op, std::string_view payload, bool fin, std::uint8_t rsv, bool mask) {
  return write(encode_frame(op, payload, fin, rsv, mask));
}

bool WsClient::send_text(std::string_view text) { return send_frame(opcode::text, text); }
bool WsClient::send_json(const nlohmann::json& j) { return send_text(dump(j)); }
bool WsClient::send_binary(std::string_view bytes) { return send_frame(opcode::binary, bytes); }
bool WsClient::ping(std::string_view payload) { return send_frame(opcode::ping, payload); }
bool WsClient::pong(std::string_view payload) { return send_frame(opcode::pong, payload); }

bool WsClient::send_fragmented(std::string_view text, std::size_t chunk) {
  if (chunk == 0) chunk = 1;
  std::string out;
  std::size_t off = 0;
  bool first = true;
  do {
    std::string_view part = text.substr(off, chunk);
    off += part.size();
    out += encode_frame(first ? opcode::text : opcode::continuation, part, off >= text.size());
    first = false;
  } while (off < text.size());
  return write(out);
}

bool WsClient::close(std::uint16_t code, std::string_view reason) {
  std::string payload;
  if (code != 0) {
    payload.push_back(static_cast<char>(code >> 8));
    payload.push_back(static_cast<char>(code & 0xFF));
    payload.append(reason);
  }
  close_sent_ = true;
  return send_frame(opcode::close, payload);
}

void WsClient::abort(bool rst) {
  if (stream_) stream_->close(rst);
  if (close_code_ == 0) close_code_ = 1006;
}

// --- receiving ---------------------------------------------------------------------------

std::optional<Frame> WsClient::recv_frame(int timeout_ms) {
  const auto deadline = deadline_in(timeout_ms);
  for (;;) {
    Frame f;
    std::size_t used = 0;
    DecodeStatus ds = decode_frame(rbuf_, &f, &used);
    if (ds == DecodeStatus::error) {
      last_error_ = "undecodable frame from server (length field out of range)";
      if (stream_) stream_->close();
      eof_ = true;
      if (close_code_ == 0) close_code_ = 1006;
      return std::nullopt;
    }
    if (ds == DecodeStatus::complete) {
      rbuf_.erase(0, used);
      if (f.opcode == opcode::close) {
        if (f.payload.size() >= 2) {
          close_code_ = (static_cast<unsigned char>(f.payload[0]) << 8) | static_cast<unsigned char>(f.payload[1]);
          close_reason_ = f.payload.substr(2);
        } else {
          close_code_ = 1005;
          close_reason_.clear();
        }
        if (auto_close_reply_ && !close_sent_ && stream_ && stream_->is_open()) {
          close_sent_ = true;
          std::string echo = f.payload.substr(0, 2);
          write(encode_frame(opcode::close, echo));
        }
      }
      return f;
    }
    if (eof_ || !stream_ || !stream_->is_open()) {
      if (close_code_ == 0) close_code_ = 1006;
      if (last_error_.empty()) last_error_ = "connection closed";
      return std::nullopt;
    }
    std::string err;
    IoStatus st = stream_->read_some(&rbuf_, deadline, 65536, &err);
    if (st == IoStatus::timeout) return std::nullopt;
    if (st == IoStatus::eof || st == IoStatus::error) {
      eof_ = true;
      if (st == IoStatus::error) last_error_ = err;
    }
  }
}

std::optional<Frame> WsClient::recv_message(int timeout_ms) {
  const auto deadline = deadline_in(timeout_ms);
  for (;;) {
    std::optional<Frame> f = recv_frame(ms_until(deadline));
    if (!f) return std::nullopt;
    switch (f->opcode) {
      case opcode::close:
        return std::nullopt;
      case opcode::ping:
        if (!close_sent_) pong(f->payload);
        continue;
      case opcode::pong:
        return f;
      case opcode::text:
      case opcode::binary:
        if (in_fragment_) {
          last_error_ = "server started a new message inside a fragmented one";
          in_fragment_ = false;
          frag_buf_.clear();
        }
        if (f->fin) return f;
        in_fragment_ = true;
        frag_opcode_ = f->opcode;
        frag_buf_ = std::move(f->payload);
        continue;
      case opcode::continuation:
        if (!in_fragment_) {
          last_error_ = "server sent a continuation frame outside a fragmented message";
          continue;
        }
        frag_buf_ += f->payload;
        if (!f->fin) continue;
        {
          Frame whole;
          whole.opcode = frag_opcode_;
          whole.payload = std::move(frag_buf_);
          whole.fin = true;
          whole.rsv = f->rsv;
          whole.masked = f->masked;
          in_fragment_ = false;
          frag_buf_.clear();
          return whole;
        }
      default:
        last_error_ = "server sent reserved opcode " + std::to_string(f->opcode);
        continue;
    }
  }
}

std::optional<std::string> WsClient::recv_text(int timeout_ms) {
  const auto deadline = deadline_in(timeout_ms);
  for (;;) {
    std::optional<Frame> m = recv_message(ms_until(deadline));
    if (!m) return std::nullopt;
    if (m->opcode == opcode::pong) continue;
    if (m->opcode == opcode::text) return std::move(m->payload);
    last_error_ = "server sent a binary message (" + std::to_string(m->payload.size()) + " bytes)";
  }
}

bool WsClient::next_json(Clock::time_point deadline, std::vector<nlohmann::json>* items) {
  for (;;) {
    std::optional<std::string> t = recv_text(ms_until(deadline));
    if (!t) return false;
    nlohmann::json j = nlohmann::json::parse(*t, nullptr, false);
    if (j.is_discarded()) {
      last_error_ = "server sent a text message that is not JSON: " + t->substr(0, 200);
      continue;
    }
    items->clear();
    if (is_batch(j)) {
      for (auto& item : j["items"]) items->push_back(std::move(item));
      if (items->empty()) continue;
    } else {
      items->push_back(std::move(j));
    }
    return true;
  }
}

std::optional<nlohmann::json> WsClient::recv_json(int timeout_ms) {
  if (!backlog_.empty()) {
    nlohmann::json j = std::move(backlog_.front());
    backlog_.pop_front();
    return j;
  }
  std::vector<nlohmann::json> items;
  if (!next_json(deadline_in(timeout_ms), &items)) return std::nullopt;
  nlohmann::json first = std::move(items.front());
  for (std::size_t i = 1; i < items.size(); ++i) backlog_.push_back(std::move(items[i]));
  return first;
}

std::optional<nlohmann::json> WsClient::recv_until(const std::function<bool(const nlohmann::json&)>& pred,
                                                   int timeout_ms) {
  auto matches = [&](const nlohmann::json& j) {
    try {
      return pred(j);
    } catch (...) {
      return false;  // e.g. a predicate using at() on a message without that key
    }
  };
  for (auto it = backlog_.begin(); it != backlog_.end(); ++it) {
    if (matches(*it)) {
      nlohmann::json j = std::move(*it);
      backlog_.erase(it);
      return j;
    }
  }
  const auto deadline = deadline_in(timeout_ms);
  std::vector<nlohmann::json> items;
  while (next_json(deadline, &items)) {
    std::optional<nlohmann::json> found;
    for (auto& item : items) {
      if (!found && matches(item)) {
        found = std::move(item);
      } else {
        backlog_.push_back(std::move(item));
      }
    }
    if (found) return found;
  }
  return std::nullopt;
}

std::optional<nlohmann::json> WsClient::recv_type(std::string_view type, int timeout_ms) {
  return recv_until([type](const nlohmann::json& j) { return json_type(j) == type; }, timeout_ms);
}

std::vector<nlohmann::json> WsClient::drain(int quiet_ms, int timeout_ms) {
  std::vector<nlohmann::json> out(std::make_move_iterator(backlog_.begin()),
                                  std::make_move_iterator(backlog_.end()));
  backlog_.clear();
  const auto deadline = deadline_in(timeout_ms);
  std::vector<nlohmann::json> items;
  while (ms_until(deadline) > 0) {
    auto quiet = std::min(deadline, deadline_in(quiet_ms));
    if (!next_json(quiet, &items)) break;
    for (auto& item : items) out.push_back(std::move(item));
  }
  return out;
}

int WsClient::wait_close(int timeout_ms) {
  const auto deadline = deadline_in(timeout_ms);
  while (close_code_ == 0 && ms_until(deadline) > 0) {
    std::optional<Frame> f = recv_frame(ms_until(deadline));
    if (f && f->opcode == opcode::ping && !close_sent_) pong(f->payload);
  }
  return close_code_;
}

int WsClient::fd() const { return stream_ && stream_->is_open() && !eof_ ? stream_->fd() : -1; }

std::vector<nlohmann::json> WsClient::read_available() {
  std::vector<nlohmann::json> out(std::make_move_iterator(backlog_.begin()),
                                  std::make_move_iterator(backlog_.end()));
  backlog_.clear();
  // A deadline already due: read_some takes what is there and never waits.
  std::vector<nlohmann::json> items;
  while (next_json(Clock::now(), &items)) {
    for (auto& item : items) out.push_back(std::move(item));
  }
  return out;
}

}  // namespace sabla::test
