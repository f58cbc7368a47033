#include "sync/zfs_cli_host.h"

#include <cstdlib>

#include "sync/zfs_command.h"

namespace skiff::sync {
namespace {

class ProcessSendStream : public ZfsSendStream {
 public:
  explicit ProcessSendStream(std::unique_ptr<ZfsProcess> p) : p_(std::move(p)) {}
  Result<size_t> Read(char* buf, size_t n) override { return p_->Read(buf, n); }
  Status Finish() override { return p_->Finish(); }

 private:
  std::unique_ptr<ZfsProcess> p_;
};

class ProcessReceiveSink : public ZfsReceiveSink {
 public:
  explicit ProcessReceiveSink(std::unique_ptr<ZfsProcess> p) : p_(std::move(p)) {}
  Status Write(std::string_view data) override { return p_->Write(data); }
  Status Finish() override { return p_->Finish(); }

 private:
  std::unique_ptr<ZfsProcess> p_;
};

Status MapMissing(Status st) {
  if (!st.ok() && st.message().find("does not exist") != std::string::npos)
    return Status::NotFound(st.message());
  return st;
}

std::vector<std::string> SplitLines(const std::string& s) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t nl = s.find('\n', pos);
    if (nl == std::string::npos) nl = s.size();
    if (nl > pos) out.push_back(s.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return out;
}

}  // namespace

Result<std::vector<ZfsSnapshot>> ZfsCliHost::ListSnapshots(const std::string& dataset) {
  const std::string zfs = ZfsProgram("zfs");
  auto names = RunZfsCommand(
      {zfs, "list", "-H", "-t", "snapshot", "-o", "name", "-s", "createtxg", "-d", "1", dataset});
  if (!names.ok()) return MapMissing(names.status());
  std::vector<std::string> full = SplitLines(*names);
  std::vector<ZfsSnapshot> out;
  if (full.empty()) return out;
  // zfs-fuse's `zfs list` has no -p, so guids come from `zfs get -p`, in one call.
  std::vector<std::string> argv = {zfs, "get", "-H", "-p", "-o", "name,value", "guid"};
  argv.insert(argv.end(), full.begin(), full.end());
  auto guids = RunZfsCommand(argv);
  if (!guids.ok()) return MapMissing(guids.status());
  std::vector<std::string> lines = SplitLines(*guids);
  if (lines.size() != full.size())
    return Status::Io("zfs get guid: expected " + std::to_string(full.size()) + " lines, got " +
                      std::to_string(lines.size()));
  for (size_t i = 0; i < lines.size(); ++i) {
    size_t tab = lines[i].find('\t');
    if (tab == std::string::npos || lines[i].substr(0, tab) != full[i])
      return Status::Io("zfs get guid: unexpected line '" + lines[i] + "'");
    std::string value = lines[i].substr(tab + 1);
    char* end = nullptr;
    uint64_t guid = std::strtoull(value.c_str(), &end, 10);
    if (value.empty() || *end != '\0' || guid == 0)
      return Status::Io("zfs get guid: not a guid: '" + value + "'");
    size_t at = full[i].find('@');
    out.push_back({full[i].substr(at + 1), guid});
  }
  return out;
}

Result<bool> ZfsCliHost::DatasetExists(const std::string& dataset) {
  auto r = RunZfsCommand({ZfsProgram("zfs"), "list", "-H", "-o", "name", dataset});
  if (r.ok()) return true;
  Status st = MapMissing(r.status());
  if (st.Is(Code::kNotFound)) return false;
  return st;
}

Status ZfsCliHost::CreateSnapshot(const std::string& dataset, const std::string& name) {
  return RunZfsCommand({ZfsProgram("zfs"), "snapshot", dataset + "@" + name}).status();
}

Result<std::unique_ptr<ZfsSendStream>> ZfsCliHost::Send(const ZfsSendSpec& spec) {
  std::vector<std::string> argv = {ZfsProgram("zfs"), "send"};
  if (spec.raw) argv.push_back("-w");
  if (spec.compressed) argv.push_back("-c");
  if (!spec.from.empty()) {
    argv.push_back("-i");
    argv.push_back(spec.dataset + "@" + spec.from);
  }
  argv.push_back(spec.dataset + "@" + spec.to);
  SKIFF_ASSIGN_OR_RETURN(auto p, ZfsProcess::Start(argv, ZfsProcess::Pipe::kStdout));
  return std::unique_ptr<ZfsSendStream>(new ProcessSendStream(std::move(p)));
}

Result<std::unique_ptr<ZfsReceiveSink>> ZfsCliHost::Receive(const std::string& dataset,
                                                            bool force) {
  std::vector<std::string> argv = {ZfsProgram("zfs"), "receive"};
  if (force) argv.push_back("-F");
  argv.push_back(dataset);
  SKIFF_ASSIGN_OR_RETURN(auto p, ZfsProcess::Start(argv, ZfsProcess::Pipe::kStdin));
  return std::unique_ptr<ZfsReceiveSink>(new ProcessReceiveSink(std::move(p)));
}

}  // namespace skiff::sync
