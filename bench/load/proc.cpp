#include "proc.h"

#include <unistd.h>

#include <fstream>
#include <sstream>

namespace sabla::load {

std::optional<ProcSample> sample_process(int pid) {
  if (pid <= 0) return std::nullopt;
  const std::string dir = "/proc/" + std::to_string(pid);
  ProcSample s;
  std::ifstream status(dir + "/status");
  if (!status) return std::nullopt;
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) s.rss_kib = std::stol(line.substr(6));
    else if (line.rfind("VmHWM:", 0) == 0) s.rss_peak_kib = std::stol(line.substr(6));
  }
  std::ifstream stat_file(dir + "/stat");
  std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
  // The command name (field 2) may hold spaces and parentheses: fields restart after the last ") ".
  const size_t close = stat.rfind(") ");
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(stat.substr(close + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  // After ") ": state(3) ppid(4) ... utime is field 14, stime field 15, i.e. the 12th and 13th here.
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  const double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
  s.cpu_user_s = static_cast<double>(utime) / hz;
  s.cpu_sys_s = static_cast<double>(stime) / hz;
  s.cpu_s = s.cpu_user_s + s.cpu_sys_s;
  return s;
}

}  // namespace sabla::load
