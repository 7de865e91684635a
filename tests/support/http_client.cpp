#include "support/http_client.h"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace sabla::test {

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  }
  return true;
}

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

bool has_header(const Headers& h, std::string_view name) {
  return std::any_of(h.begin(), h.end(), [&](const auto& kv) { return iequals(kv.first, name); });
}

// Reads until buf holds at least `want` bytes. false on EOF/timeout/error.
bool fill(NetStream& s, Clock::time_point deadline, std::string* buf, std::size_t want,
          std::string* error) {
  while (buf->size() < want) {
    IoStatus st = s.read_some(buf, deadline, std::max<std::size_t>(want - buf->size(), 16384), error);
    if (st == IoStatus::eof) {
      *error = "connection closed before the body was complete";
      return false;
    }
    if (st != IoStatus::ok) return false;
  }
  return true;
}

// Reads until buf contains "\r\n" at or after `from`; returns its offset or npos.
std::size_t fill_line(NetStream& s, Clock::time_point deadline, std::string* buf, std::size_t from,
                      std::string* error) {
  for (;;) {
    std::size_t p = buf->find("\r\n", from);
    if (p != std::string::npos) return p;
    if (buf->size() - from > 65536) {
      *error = "chunk line too long";
      return std::string::npos;
    }
    if (!fill(s, deadline, buf, buf->size() + 1, error)) return std::string::npos;
  }
}

bool read_chunked(NetStream& s, Clock::time_point deadline, std::string* buf, std::size_t pos,
                  std::string* body, std::string* error) {
  for (;;) {
    std::size_t eol = fill_line(s, deadline, buf, pos, error);
    if (eol == std::string::npos) return false;
    std::string_view line(buf->data() + pos, eol - pos);
    if (auto semi = line.find(';'); semi != std::string_view::npos) line = line.substr(0, semi);
    line = trim(line);
    std::uint64_t size = 0;
    auto [p, ec] = std::from_chars(line.data(), line.data() + line.size(), size, 16);
    if (ec != std::errc() || p != line.data() + line.size() || line.empty() || size > (1ull << 32)) {
      *error = "bad chunk size line: " + std::string(line);
      return false;
    }
    pos = eol + 2;
    if (size == 0) {
      // Trailer section: header lines up to an empty line.
      for (;;) {
        std::size_t e = fill_line(s, deadline, buf, pos, error);
        if (e == std::string::npos) return false;
        bool empty = e == pos;
        pos = e + 2;
        if (empty) return true;
      }
    }
    if (!fill(s, deadline, buf, pos + size + 2, error)) return false;
    body->append(*buf, pos, size);
    if (buf->compare(pos + size, 2, "\r\n") != 0) {
      *error = "chunk not followed by CRLF";
      return false;
    }
    pos += size + 2;
  }
}

}  // namespace

bool read_http_head(NetStream& s, Clock::time_point deadline, std::string* buf,
                    std::size_t* head_end, std::string* error, std::size_t max_head) {
  std::size_t scan_from = 0;
  for (;;) {
    std::size_t p = buf->find("\r\n\r\n", scan_from);
    if (p != std::string::npos) {
      *head_end = p + 4;
      return true;
    }
    if (buf->size() > max_head) {
      *error = "response head larger than " + std::to_string(max_head) + " bytes";
      return false;
    }
    scan_from = buf->size() >= 3 ? buf->size() - 3 : 0;
    IoStatus st = s.read_some(buf, deadline, 16384, error);
    if (st == IoStatus::eof) {
      *error = buf->empty() ? "connection closed without a response"
                            : "connection closed inside the response head";
      return false;
    }
    if (st != IoStatus::ok) {
      if (st == IoStatus::timeout) *error = "timed out waiting for the response head";
      return false;
    }
  }
}

bool parse_http_head(std::string_view head, int* status, std::string* reason, Headers* headers) {
  headers->clear();
  std::size_t eol = head.find("\r\n");
  if (eol == std::string_view::npos) return false;
  std::string_view line = head.substr(0, eol);
  if (line.substr(0, 5) != "HTTP/") return false;
  std::size_t sp = line.find(' ');
  if (sp == std::string_view::npos || line.size() < sp + 4) return false;
  int code = 0;
  auto [p, ec] = std::from_chars(line.data() + sp + 1, line.data() + sp + 4, code);
  if (ec != std::errc() || p != line.data() + sp + 4 || code < 100 || code > 999) return false;
  *status = code;
  *reason = std::string(trim(line.substr(sp + 4)));
  std::size_t pos = eol + 2;
  while (pos < head.size()) {
    std::size_t e = head.find("\r\n", pos);
    if (e == std::string_view::npos) e = head.size();
    std::string_view h = head.substr(pos, e - pos);
    pos = e + 2;
    if (h.empty()) break;
    std::size_t colon = h.find(':');
    if (colon == std::string_view::npos || colon == 0) return false;
    headers->emplace_back(to_lower(trim(h.substr(0, colon))), std::string(trim(h.substr(colon + 1))));
  }
  return true;
}

HttpResponse http_request(const HttpRequest& req) {
  HttpResponse r;
  const auto deadline = deadline_in(req.timeout_ms);
  auto s = NetStream::connect(req.host, req.port, req.tls, req.timeout_ms, &r.error);
  if (!s) return r;

  std::string out = req.method + " " + req.path + " HTTP/1.1\r\n";
  if (!has_header(req.headers, "host")) out += "Host: " + req.host + ":" + std::to_string(req.port) + "\r\n";
  const bool body_method = req.method == "POST" || req.method == "PUT" || req.method == "PATCH";
  if ((!req.body.empty() || body_method) && !has_header(req.headers, "content-length") &&
      !has_header(req.headers, "transfer-encoding"))
    out += "Content-Length: " + std::to_string(req.body.size()) + "\r\n";
  if (!req.body.empty() && req.json_content_type && !has_header(req.headers, "content-type"))
    out += "Content-Type: application/json\r\n";
  if (!has_header(req.headers, "connection")) out += "Connection: close\r\n";
  for (const auto& [k, v] : req.headers) out += k + ": " + v + "\r\n";
  out += "\r\n";
  out += req.body;
  if (s->write_all(out, deadline, &r.error) != IoStatus::ok) {
    r.error = "sending request: " + r.error;
    // The server may have answered (e.g. 413) before reading everything: try to read it.
  }

  std::string buf;
  std::size_t head_end = 0;
  for (;;) {
    std::string err;
    if (!read_http_head(*s, deadline, &buf, &head_end, &err)) {
      r.error = r.error.empty() ? err : r.error + "; " + err;
      return r;
    }
    if (!parse_http_head(std::string_view(buf).substr(0, head_end), &r.status, &r.reason, &r.headers)) {
      r.status = 0;
      r.error = "malformed response head: " + buf.substr(0, std::min<std::size_t>(head_end, 200));
      return r;
    }
    if (r.status >= 100 && r.status < 200 && r.status != 101) {  // 100 Continue etc.: skip
      buf.erase(0, head_end);
      continue;
    }
    break;
  }
  r.error.clear();

  if (req.method == "HEAD" || (r.status >= 100 && r.status < 200) || r.status == 204 || r.status == 304)
    return r;
  const std::string te = to_lower(header(r, "transfer-encoding"));
  const std::string cl = header(r, "content-length");
  if (te.find("chunked") != std::string::npos) {
    if (!read_chunked(*s, deadline, &buf, head_end, &r.body, &r.error)) r.error = "chunked body: " + r.error;
  } else if (!cl.empty()) {
    std::uint64_t n = 0;
    auto [p, ec] = std::from_chars(cl.data(), cl.data() + cl.size(), n);
    if (ec != std::errc() || p != cl.data() + cl.size() || n > (1ull << 32)) {
      r.error = "bad Content-Length: " + cl;
      return r;
    }
    if (fill(*s, deadline, &buf, head_end + n, &r.error)) {
      r.body = buf.substr(head_end, n);
    } else {
      r.body = buf.substr(head_end);
      r.error = "body: " + r.error;
    }
  } else {
    IoStatus st = s->read_to_eof(&buf, deadline);
    r.body = buf.substr(head_end);
    if (st != IoStatus::ok) r.error = "body: timed out before the connection closed";
  }
  return r;
}

HttpResponse http_get(int port, const std::string& path, const Headers& headers) {
  HttpRequest req;
  req.port = port;
  req.path = path;
  req.headers = headers;
  return http_request(req);
}

HttpResponse http_post_json(int port, const std::string& path, const nlohmann::json& body,
                            const Headers& headers) {
  HttpRequest req;
  req.port = port;
  req.method = "POST";
  req.path = path;
  req.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  req.headers = headers;
  return http_request(req);
}

std::string header(const Headers& h, std::string_view name) {
  for (const auto& [k, v] : h)
    if (iequals(k, name)) return v;
  return {};
}

std::string header(const HttpResponse& r, std::string_view name) { return header(r.headers, name); }

std::vector<std::string> header_values(const HttpResponse& r, std::string_view name) {
  std::vector<std::string> out;
  for (const auto& [k, v] : r.headers)
    if (iequals(k, name)) out.push_back(v);
  return out;
}

std::string cookie_from(const HttpResponse& r, std::string_view name) {
  for (const std::string& v : header_values(r, "set-cookie")) {
    std::string_view pair = std::string_view(v).substr(0, v.find(';'));
    std::size_t eq = pair.find('=');
    if (eq == std::string_view::npos) continue;
    if (trim(pair.substr(0, eq)) == name) return std::string(trim(pair));
  }
  return {};
}

std::optional<nlohmann::json> json_body(const HttpResponse& r) {
  nlohmann::json j = nlohmann::json::parse(r.body, nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

}  // namespace sabla::test
