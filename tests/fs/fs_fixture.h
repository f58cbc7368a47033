// Shared set-up for the semantics-layer tests: a RemoteFilesystem over a MemRemoteFs
// (wrapped in a FaultyRemoteFs for counting and fault injection), mounted at "/m", with
// a manual clock.
#pragma once

#include <fcntl.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "fs/remote_filesystem.h"
#include "tests/fs/faulty_remote_fs.h"
#include "transport/mem_remote_fs.h"

namespace skiff::testing {

struct FsFixture {
  explicit FsFixture(fs::MountOptions opts = {}, bool reconnect = false) {
    mem = std::make_shared<MemRemoteFs>();
    (void)mem->Mkdir("/m");
    faulty = std::make_shared<FaultyRemoteFs>(mem);
    fs::ConnectionKeeper::Connector connector;
    if (reconnect) {
      connector = [this]() -> Result<std::shared_ptr<RemoteFs>> {
        ++connects;
        if (refuse_connect) return Status::ConnectionLost("injected: server unreachable");
        faulty = std::make_shared<FaultyRemoteFs>(mem);
        return std::shared_ptr<RemoteFs>(faulty);
      };
    }
    filesystem = std::make_unique<fs::RemoteFilesystem>(
        std::vector<std::shared_ptr<RemoteFs>>{faulty}, connector, "/m", opts, [this] {
          return std::chrono::steady_clock::time_point(std::chrono::milliseconds(now_ms.load()));
        });
    Status s = filesystem->Init();
    if (!s.ok()) throw std::runtime_error(s.ToString());
  }
  void Advance(double seconds) { now_ms += static_cast<int64_t>(seconds * 1000); }

  // Creates `name` in `parent` with `data` through the filesystem (create, write, flush,
  // release) and returns its inode.
  uint64_t MakeFile(uint64_t parent, const std::string& name, const std::string& data,
                    uint32_t mode = 0644) {
    auto c = filesystem->Create(parent, name, mode, O_WRONLY | O_CREAT | O_EXCL);
    if (!c.ok()) throw std::runtime_error(c.status().ToString());
    uint64_t fh = c->second.fh;
    if (!data.empty()) {
      auto w = filesystem->Write(fh, 0, data);
      if (!w.ok()) throw std::runtime_error(w.status().ToString());
    }
    Status f = filesystem->Flush(fh);
    if (!f.ok()) throw std::runtime_error(f.ToString());
    (void)filesystem->Release(fh);
    return c->first.ino;
  }

  // Reads the whole of `ino` through a fresh handle.
  std::string ReadAll(uint64_t ino) {
    auto o = filesystem->Open(ino, O_RDONLY);
    if (!o.ok()) throw std::runtime_error(o.status().ToString());
    std::string out;
    for (;;) {
      auto r = filesystem->Read(o->fh, out.size(), 131072);
      if (!r.ok()) throw std::runtime_error(r.status().ToString());
      if (r->empty()) break;
      out += *r;
    }
    (void)filesystem->Release(o->fh);
    return out;
  }

  // Contents of a file as the server has it.
  std::string ServerContent(const std::string& path) {
    auto f = mem->Open(path, OpenFlags::kRead);
    if (!f.ok()) return "<" + f.status().ToString() + ">";
    std::string out;
    for (;;) {
      auto r = (*f)->Read(out.size(), 1 << 20);
      if (!r.ok() || r->empty()) break;
      out += *r;
    }
    return out;
  }

  std::shared_ptr<MemRemoteFs> mem;
  std::shared_ptr<FaultyRemoteFs> faulty;  // the current connection's wrapper
  std::atomic<int64_t> now_ms{1000000};
  std::atomic<int> connects{0};
  std::atomic<bool> refuse_connect{false};
  std::unique_ptr<fs::RemoteFilesystem> filesystem;
};

}  // namespace skiff::testing
