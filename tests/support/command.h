// Running the sabla CLI (or any shell command) from a test and reading what it
// printed: `sabla user add` / `token create` print the secret once, after a prefix.
#pragma once
#include <cstdio>
#include <string>

namespace sabla::test {

// Standard output of `cmd` run by the shell ("" if it cannot start).
inline std::string run_command(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[512];
  while (fgets(buf, sizeof buf, p)) out += buf;
  pclose(p);
  return out;
}

// The rest of the line after `prefix` in `text` ("" if absent), e.g. the
// password after "password: ".
inline std::string value_after(const std::string& text, const std::string& prefix) {
  auto pos = text.find(prefix);
  if (pos == std::string::npos) return {};
  auto end = text.find('\n', pos);
  return text.substr(pos + prefix.size(), end - pos - prefix.size());
}

}  // namespace sabla::test
