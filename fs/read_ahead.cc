#include "fs/read_ahead.h"

#include <algorithm>
#include <vector>

namespace skiff::fs {

// The window a stream starts with once its second sequential read arrives. Two requests
// already overlap one round trip; the window then doubles per read.
constexpr uint32_t kInitialWindow = 2;

ReadAhead::ReadAhead(RemoteFile* file, uint32_t chunk, uint32_t max_requests)
    : file_(file),
      chunk_(std::max<uint32_t>(chunk, 4096)),
      max_requests_(std::max<uint32_t>(max_requests, 1)),
      state_(std::make_shared<State>()) {}

ReadAhead::~ReadAhead() {
  std::unique_lock<std::mutex> l(state_->mu);
  state_->cv.wait(l, [&] { return state_->in_flight == 0; });
}

uint32_t ReadAhead::window() const {
  std::lock_guard<std::mutex> l(state_->mu);
  return state_->window;
}

void ReadAhead::Issue(const std::shared_ptr<Chunk>& c) {
  std::shared_ptr<State> st = state_;
  file_->ReadAsync(c->offset, c->len, [st, c](Result<std::string> r) {
    std::lock_guard<std::mutex> l(st->mu);
    if (r.ok()) {
      c->data = std::move(r).value();
      if (c->data.size() < c->len) {
        st->eof = c->offset + c->data.size();
      } else if (c->offset + c->len > st->eof) {
        st->eof = UINT64_MAX;  // the file grew past what we knew
      }
    } else {
      c->status = r.status();
    }
    c->done = true;
    --st->in_flight;
    st->cv.notify_all();
  });
}

void ReadAhead::Invalidate() {
  std::lock_guard<std::mutex> l(state_->mu);
  state_->chunks.clear();
  state_->window = 0;
  state_->issued_end = 0;
  state_->expected = UINT64_MAX;
  state_->eof = UINT64_MAX;
}

void ReadAhead::Prefetch(uint64_t len) {
  if (len == 0) return;
  std::vector<std::shared_ptr<Chunk>> cs;
  {
    std::lock_guard<std::mutex> l(state_->mu);
    if (!state_->chunks.empty()) return;
    auto c = std::make_shared<Chunk>();
    c->offset = 0;
    c->len = static_cast<uint32_t>(std::min<uint64_t>(len, chunk_));
    state_->chunks[0] = c;
    cs.push_back(c);
    if (len < chunk_) {
      // A probe past the expected end, sent together with the data request: the kernel
      // reads whole pages (4096 bytes of a 3000-byte file), so its first read reaches
      // past the end, and without the probe that part would cost a second round trip
      // (SFTP marks EOF only by a reply to a READ at or past it; a short read is not
      // proof). If the file grew since the stat, the probe brings the new bytes.
      auto probe = std::make_shared<Chunk>();
      probe->offset = len;
      probe->len = static_cast<uint32_t>(chunk_ - len);
      state_->chunks[len] = probe;
      cs.push_back(probe);
    }
    state_->in_flight += static_cast<int>(cs.size());
  }
  for (const auto& c : cs) Issue(c);
}

void ReadAhead::SetSizeHint(uint64_t size) {
  std::lock_guard<std::mutex> l(state_->mu);
  state_->eof = size;
}

Result<std::string> ReadAhead::Read(uint64_t offset, uint32_t size) {
  if (size == 0) return std::string();
  State& st = *state_;
  std::vector<std::shared_ptr<Chunk>> to_issue;
  std::vector<std::shared_ptr<Chunk>> needed;
  {
    std::lock_guard<std::mutex> l(st.mu);
    uint64_t end = offset + size;
    // Sequential if the read starts where the stream is, or inside what the stream has
    // already asked for (several FUSE threads deliver one stream's reads out of order).
    bool sequential =
        offset == st.expected || (st.window > 0 && offset < st.issued_end &&
                                  offset + uint64_t{chunk_} * st.window >= st.expected);
    if (sequential) {
      st.window = st.window == 0 ? kInitialWindow : std::min(st.window * 2, max_requests_);
    } else {
      st.window = 0;
      // Drop the old stream's chunks that this read does not need.
      for (auto it = st.chunks.begin(); it != st.chunks.end();) {
        const Chunk& c = *it->second;
        bool overlaps = c.offset < end && c.offset + c.len > offset;
        it = overlaps ? std::next(it) : st.chunks.erase(it);
      }
      st.issued_end = 0;
    }
    st.expected = std::max(st.expected == UINT64_MAX ? 0 : st.expected, end);
    if (!sequential) st.expected = end;

    // Collect existing chunks covering [offset, end) and fill gaps with new requests.
    uint64_t pos = offset;
    auto it = st.chunks.upper_bound(offset);
    if (it != st.chunks.begin()) --it;
    auto add_range = [&](uint64_t from, uint64_t to) {
      while (from < to) {
        auto c = std::make_shared<Chunk>();
        c->offset = from;
        c->len = static_cast<uint32_t>(std::min<uint64_t>(chunk_, to - from));
        st.chunks[from] = c;
        to_issue.push_back(c);
        needed.push_back(c);
        from += c->len;
      }
    };
    for (; it != st.chunks.end() && pos < end; ++it) {
      const auto& c = it->second;
      if (c->offset + c->len <= pos) continue;
      if (c->offset > pos) add_range(pos, std::min(c->offset, end));
      if (c->offset >= end) break;
      needed.push_back(c);
      pos = c->offset + c->len;
    }
    if (pos < end) add_range(pos, end);

    if (sequential) {
      // Keep `window` chunk-aligned requests in flight beyond this read.
      uint64_t start = std::max(st.issued_end, end);
      if (start % chunk_) start += chunk_ - start % chunk_;
      uint64_t target = end + uint64_t{chunk_} * st.window;
      // Fill the unaligned gap between this read's end and the first aligned request.
      if (st.issued_end < end) {
        uint64_t gap_end = std::min(start, target);
        for (uint64_t p = end; p < gap_end && p < st.eof;) {
          if (st.chunks.count(p)) break;
          auto c = std::make_shared<Chunk>();
          c->offset = p;
          c->len = static_cast<uint32_t>(gap_end - p);
          st.chunks[p] = c;
          to_issue.push_back(c);
          p = gap_end;
        }
      }
      for (uint64_t p = start; p < target && p < st.eof; p += chunk_) {
        if (st.chunks.count(p)) continue;
        auto c = std::make_shared<Chunk>();
        c->offset = p;
        c->len = chunk_;
        st.chunks[p] = c;
        to_issue.push_back(c);
      }
      st.issued_end = std::max(st.issued_end, target);
    }
    st.in_flight += static_cast<int>(to_issue.size());
  }
  // Never call into the transport with our lock held: its completion may run inline.
  for (const auto& c : to_issue) Issue(c);

  std::string out;
  out.reserve(size);
  std::unique_lock<std::mutex> l(st.mu);
  uint64_t end = offset + size;
  for (const auto& c : needed) {
    st.cv.wait(l, [&] { return c->done; });
    if (!c->status.ok()) {
      st.chunks.erase(c->offset);
      return c->status;
    }
    if (c->offset > offset + out.size()) break;  // a hole after EOF
    uint64_t from = offset + out.size() - c->offset;
    if (from >= c->data.size()) break;  // EOF inside this chunk, before our range
    uint64_t n = std::min<uint64_t>(c->data.size() - from, end - (offset + out.size()));
    out.append(c->data, from, n);
    if (c->data.size() < c->len) break;  // EOF
    if (out.size() >= size) break;
  }
  // Consumed chunks are no longer needed: keep one behind for reordered readers.
  uint64_t keep_from = offset > chunk_ ? offset - chunk_ : 0;
  for (auto it = st.chunks.begin(); it != st.chunks.end();) {
    const Chunk& c = *it->second;
    if (c.done && c.offset + c.len <= keep_from) {
      it = st.chunks.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

}  // namespace skiff::fs
