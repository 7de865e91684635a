// What the server process costs, read from /proc/<pid> (Linux): resident
// memory from status, CPU time from stat. The server runs as a separate
// process; its pid is passed with --server-pid.
#pragma once

#include <optional>
#include <string>

namespace sabla::load {

struct ProcSample {
  long rss_kib = 0;       // VmRSS
  long rss_peak_kib = 0;  // VmHWM
  double cpu_s = 0;       // utime + stime
  double cpu_user_s = 0;
  double cpu_sys_s = 0;
};

// nullopt when the process is gone or /proc cannot be read.
std::optional<ProcSample> sample_process(int pid);

}  // namespace sabla::load
