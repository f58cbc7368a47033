// An in-memory ZfsHost for unit tests: datasets are lists of snapshots whose "stream"
// is a small text header plus the snapshot's payload, so receive can check that an
// incremental's origin matches, as zfs does. Not thread-safe (tests only).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "sync/zfs_host.h"

namespace skiff::sync::testing {

class FakeZfsHost : public ZfsHost {
 public:
  struct Snap {
    std::string name;
    uint64_t guid;
    std::string payload;
  };
  std::map<std::string, std::vector<Snap>> datasets;
  int receives_started = 0;
  int sends_started = 0;
  // When set, a send fails with this message after producing `fail_after` bytes.
  std::string send_error;
  size_t fail_after = 0;

  void AddSnapshot(const std::string& ds, const std::string& name, uint64_t guid,
                   std::string payload) {
    datasets[ds].push_back({name, guid, std::move(payload)});
  }

  static std::string StreamBytes(uint64_t from, const Snap& s) {
    return "FAKEZFS " + std::to_string(from) + " " + std::to_string(s.guid) + " " + s.name + " " +
           std::to_string(s.payload.size()) + "\n" + s.payload;
  }

  Result<std::vector<ZfsSnapshot>> ListSnapshots(const std::string& ds) override {
    auto it = datasets.find(ds);
    if (it == datasets.end())
      return Status::NotFound("cannot open '" + ds + "': dataset does not exist");
    std::vector<ZfsSnapshot> out;
    for (const auto& s : it->second) out.push_back({s.name, s.guid});
    return out;
  }
  Result<bool> DatasetExists(const std::string& ds) override { return datasets.count(ds) > 0; }
  Status CreateSnapshot(const std::string& ds, const std::string& name) override {
    auto it = datasets.find(ds);
    if (it == datasets.end()) return Status::NotFound("no dataset " + ds);
    for (const auto& s : it->second)
      if (s.name == name) return Status::Exists("dataset already exists");
    it->second.push_back({name, next_guid_++, "payload of " + name});
    return Status::Ok();
  }

  class Stream : public ZfsSendStream {
   public:
    Stream(std::string data, std::string error)
        : data_(std::move(data)), error_(std::move(error)) {}
    Result<size_t> Read(char* buf, size_t n) override {
      size_t k = std::min(n, data_.size() - pos_);
      std::copy(data_.data() + pos_, data_.data() + pos_ + k, buf);
      pos_ += k;
      return k;
    }
    Status Finish() override {
      if (!error_.empty()) return Status::Io("zfs send: " + error_);
      return Status::Ok();
    }

   private:
    std::string data_;
    size_t pos_ = 0;
    std::string error_;
  };

  Result<std::unique_ptr<ZfsSendStream>> Send(const ZfsSendSpec& spec) override {
    ++sends_started;
    if (spec.raw) return Status::Io("zfs send -w: invalid option 'w'");
    auto it = datasets.find(spec.dataset);
    if (it == datasets.end()) return Status::NotFound("no dataset");
    const Snap* to = nullptr;
    uint64_t from = 0;
    for (const auto& s : it->second) {
      if (s.name == spec.to) to = &s;
      if (!spec.from.empty() && s.name == spec.from) from = s.guid;
    }
    if (!to || (!spec.from.empty() && from == 0)) return Status::NotFound("no such snapshot");
    std::string bytes = StreamBytes(from, *to);
    if (!send_error.empty()) bytes.resize(std::min(bytes.size(), fail_after));
    return std::unique_ptr<ZfsSendStream>(new Stream(bytes, send_error));
  }

  class Sink : public ZfsReceiveSink {
   public:
    Sink(FakeZfsHost& host, std::string ds) : host_(host), ds_(std::move(ds)) {}
    Status Write(std::string_view d) override {
      data_.append(d);
      return Status::Ok();
    }
    Status Finish() override {
      size_t nl = data_.find('\n');
      if (data_.rfind("FAKEZFS ", 0) != 0 || nl == std::string::npos)
        return Status::Io("cannot receive: invalid stream (bad magic number)");
      unsigned long long from = 0, guid = 0, size = 0;
      char name[256];
      if (std::sscanf(data_.c_str(), "FAKEZFS %llu %llu %255s %llu", &from, &guid, name, &size) !=
              4 ||
          data_.size() - nl - 1 != size)
        return Status::Io("cannot receive: invalid stream");
      auto& snaps = host_.datasets[ds_];
      if (from == 0 && !snaps.empty()) return Status::Io("destination '" + ds_ + "' exists");
      if (from != 0 && (snaps.empty() || snaps.back().guid != from))
        return Status::Io("cannot receive incremental stream: most recent snapshot of " + ds_ +
                          " does not match incremental source");
      snaps.push_back({name, guid, data_.substr(nl + 1)});
      return Status::Ok();
    }

   private:
    FakeZfsHost& host_;
    std::string ds_;
    std::string data_;
  };

  Result<std::unique_ptr<ZfsReceiveSink>> Receive(const std::string& ds, bool force) override {
    ++receives_started;
    return std::unique_ptr<ZfsReceiveSink>(new Sink(*this, ds));
  }

 private:
  uint64_t next_guid_ = 1000;
};

}  // namespace skiff::sync::testing
