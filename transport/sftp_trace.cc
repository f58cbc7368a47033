#include "transport/sftp_trace.h"

#include <cstdio>
#include <cstdlib>

namespace skiff {
namespace {

const char* TypeName(uint8_t t) {
  switch (t) {
    case 3:
      return "open";
    case 4:
      return "close";
    case 5:
      return "read";
    case 6:
      return "write";
    case 7:
      return "lstat";
    case 8:
      return "fstat";
    case 9:
      return "setstat";
    case 10:
      return "fsetstat";
    case 11:
      return "opendir";
    case 12:
      return "readdir";
    case 13:
      return "remove";
    case 14:
      return "mkdir";
    case 15:
      return "rmdir";
    case 16:
      return "realpath";
    case 17:
      return "stat";
    case 18:
      return "rename";
    case 19:
      return "readlink";
    case 20:
      return "symlink";
    default:
      return nullptr;
  }
}

}  // namespace

SftpTrace* SftpTrace::Get() {
  static SftpTrace* trace = [] {
    const char* p = std::getenv("SKIFF_SFTP_TRACE");
    return p && *p ? new SftpTrace(p) : nullptr;  // lives as long as the process
  }();
  return trace;
}

SftpTrace::SftpTrace(std::string path) : path_(std::move(path)) {}

size_t SftpTrace::Begin(std::string_view packet, bool waited, size_t trailing) {
  Record r;
  r.start_us = std::chrono::duration_cast<std::chrono::microseconds>(
                   std::chrono::steady_clock::now() - epoch_)
                   .count();
  r.waited = waited;
  r.request_bytes = packet.size() + trailing;
  // Packet: u32 length, u8 type, u32 id, then (extended) string name.
  uint8_t type = packet.size() > 4 ? static_cast<uint8_t>(packet[4]) : 0;
  if (const char* n = TypeName(type)) {
    r.type = n;
  } else if (type == 200 && packet.size() >= 13) {
    const auto* u = reinterpret_cast<const unsigned char*>(packet.data() + 9);
    size_t len = (size_t{u[0]} << 24) | (size_t{u[1]} << 16) | (size_t{u[2]} << 8) | u[3];
    r.type = std::string(packet.substr(13, std::min(len, packet.size() - 13)));
  } else {
    r.type = "type" + std::to_string(type);
  }
  std::lock_guard<std::mutex> l(mu_);
  records_.push_back(std::move(r));
  return records_.size() - 1;
}

void SftpTrace::End(size_t index, size_t reply_bytes) {
  int64_t now = std::chrono::duration_cast<std::chrono::microseconds>(
                    std::chrono::steady_clock::now() - epoch_)
                    .count();
  std::lock_guard<std::mutex> l(mu_);
  if (index >= records_.size()) return;
  records_[index].end_us = now;
  records_[index].reply_bytes = reply_bytes;
}

void SftpTrace::Dump() {
  std::vector<Record> recs;
  {
    std::lock_guard<std::mutex> l(mu_);
    recs.swap(records_);
  }
  FILE* f = std::fopen(path_.c_str(), "a");
  if (!f) return;  // a debugging aid: nowhere to report to
  for (const auto& r : recs)
    std::fprintf(f, "%lld %lld %s %d %zu %zu\n", static_cast<long long>(r.start_us),
                 static_cast<long long>(r.end_us), r.type.c_str(), r.waited ? 1 : 0,
                 r.request_bytes, r.reply_bytes);
  std::fclose(f);
}

}  // namespace skiff
