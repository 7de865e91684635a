// A failed property in a fuzz target: print what broke and abort, so
// libFuzzer saves the input as a crash (assert() would vanish under NDEBUG).
#pragma once
#include <cstdio>
#include <cstdlib>
#include <string_view>

[[noreturn]] inline void fuzz_check_failed(const char* file, int line, const char* condition, std::string_view what) {
  std::fprintf(stderr, "fuzz property failed at %s:%d: %s: %.*s\n", file, line, condition,
               static_cast<int>(what.size()), what.data());
  std::abort();
}

// `what` is evaluated only on failure (it may build a string).
#define FUZZ_CHECK(condition, what) \
  do {                              \
    if (!(condition)) fuzz_check_failed(__FILE__, __LINE__, #condition, (what)); \
  } while (0)
