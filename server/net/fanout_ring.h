// The fan-out ring: viewer- and overlay-bound frames appended once and read
// by every client with its own tail (a sequence number), so one publish costs
// one append whatever the number of clients. A client whose tail fell off the
// start of the ring has lost frames and is culled by the caller.
//
// Threads: the net thread only (no locks).
#pragma once
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>

namespace sabla::net {

class FanoutRing {
 public:
  explicit FanoutRing(size_t capacity) : capacity_(capacity) {}

  // Sequence numbers: [begin(), end()) are held; end() is the next to be pushed.
  uint64_t begin() const { return base_; }
  uint64_t end() const { return base_ + items_.size(); }
  bool holds(uint64_t seq) const { return seq >= base_ && seq < end(); }
  const std::string& at(uint64_t seq) const { return items_[static_cast<size_t>(seq - base_)]; }

  void push(std::string frame) {
    items_.push_back(std::move(frame));
    while (items_.size() > capacity_) {
      items_.pop_front();
      ++base_;
    }
  }

 private:
  std::deque<std::string> items_;
  uint64_t base_ = 0;
  size_t capacity_;
};

// What a client whose tail is at `from` is sent next: everything it has not
// seen, as one frame (cost follows clients x ticks, not clients x messages).
// One message goes as it is; several go as {"type":"batch","items":[…]} of at
// most kMaxBytes (a longer backlog takes several writes).
//
// Performance (bench/README.md, fanout): the last batch built is kept, named
// by its ring and sequence range (ring items never change once pushed), so it
// is built once per tick for every viewer at the same place (normally all of
// them), not once per viewer.
class CoalescedBatch {
 public:
  static constexpr size_t kMaxBytes = 32 * 1024;

  // Requires ring.holds(from). Sets *to to the tail after this frame. The
  // reference stays valid until the next call or the next push to the ring.
  const std::string& next(const FanoutRing& ring, uint64_t from, uint64_t* to) {
    uint64_t last = from;
    size_t bytes = 0;
    while (last < ring.end() && (last == from || bytes + ring.at(last).size() < kMaxBytes)) {
      bytes += ring.at(last).size() + 1;
      ++last;
    }
    *to = last;
    if (last - from == 1) return ring.at(from);
    if (ring_ != &ring || from_ != from || to_ != last) {
      batch_.clear();
      batch_.reserve(bytes + 32);
      batch_ = "{\"type\":\"batch\",\"items\":[";
      for (uint64_t i = from; i < last; ++i) {
        if (i > from) batch_ += ',';
        batch_ += ring.at(i);
      }
      batch_ += "]}";
      ring_ = &ring;
      from_ = from;
      to_ = last;
    }
    return batch_;
  }

 private:
  std::string batch_;
  const FanoutRing* ring_ = nullptr;
  uint64_t from_ = 0;
  uint64_t to_ = 0;
};

}  // namespace sabla::net
