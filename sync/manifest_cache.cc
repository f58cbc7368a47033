#include "sync/manifest_cache.h"

#include <sys/stat.h>

#include <cstdio>
#include <filesystem>

#include "sync/remote_stream.h"

namespace skiff::sync {
namespace {

// The cached copy is trusted when it has the server copy's size and final kTailBytes
// bytes. Those bytes hold the trailer (entry count and xxh128 of the whole manifest): in
// plain text in a version 1 manifest; in a version 2 one as the end of the zlib stream,
// i.e. the compressed trailer (a hash barely compresses) and zlib's checksum of the text.
constexpr uint64_t kTailBytes = 128;

}  // namespace

Result<std::unique_ptr<ManifestReader>> OpenRemoteManifest(const Repository& repo,
                                                           const std::string& name) {
  RemoteFs& fs = repo.fs();
  SKIFF_ASSIGN_OR_RETURN(auto file, fs.Open(repo.ManifestPath(name), OpenFlags::kRead));
  struct Holder {
    std::unique_ptr<RemoteFile> file;
    std::unique_ptr<RemoteStreamReader> stream;
  };
  auto h = std::make_shared<Holder>();
  h->file = std::move(file);
  h->stream = std::make_unique<RemoteStreamReader>(*h->file, fs.caps().max_read, 8);
  auto reader = std::make_unique<ManifestReader>([h]() { return h->stream->Next(); });
  SKIFF_RETURN_IF_ERROR(reader->Open().WithContext("manifest of " + name));
  return reader;
}

Result<std::unique_ptr<ManifestReader>> ManifestCache::OpenLatest(const Repository& repo,
                                                                  const std::string& name) {
  if (!dir_.empty()) {
    std::ifstream nf(dir_ + "/last.name");
    std::string cached_name;
    std::getline(nf, cached_name);
    std::error_code ec;
    uint64_t local_size = std::filesystem::file_size(dir_ + "/last.manifest", ec);
    if (cached_name == name && !ec && local_size > kTailBytes) {
      auto remote = repo.fs().Open(repo.ManifestPath(name), OpenFlags::kRead);
      std::string remote_tail, local_tail;
      if (remote.ok()) {
        auto a = (*remote)->Stat();
        if (a.ok() && a->size == local_size) {
          auto t = (*remote)->Read(local_size - kTailBytes, kTailBytes);
          if (t.ok()) remote_tail = *t;
        }
      }
      std::ifstream lf(dir_ + "/last.manifest", std::ios::binary);
      lf.seekg(static_cast<std::streamoff>(local_size - kTailBytes));
      local_tail.resize(kTailBytes);
      lf.read(local_tail.data(), kTailBytes);
      if (lf && remote_tail.size() == kTailBytes && remote_tail == local_tail) {
        auto in = std::make_shared<std::ifstream>(dir_ + "/last.manifest", std::ios::binary);
        auto reader = std::make_unique<ManifestReader>([in]() -> Result<std::string> {
          std::string buf(1 << 20, '\0');
          in->read(buf.data(), static_cast<std::streamsize>(buf.size()));
          buf.resize(static_cast<size_t>(in->gcount()));
          if (in->bad()) return Status::Io("reading the manifest cache");
          return buf;
        });
        if (reader->Open().ok() && reader->snapshot_name() == name) return reader;
      }
    }
  }
  return OpenRemoteManifest(repo, name);
}

std::unique_ptr<ManifestCache::Writer> ManifestCache::BeginWrite(const std::string& name) {
  if (dir_.empty()) return nullptr;
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) return nullptr;
  return std::make_unique<Writer>(dir_, name);
}

ManifestCache::Writer::Writer(std::string dir, std::string name)
    : dir_(std::move(dir)), name_(std::move(name)) {
  out_.open(dir_ + "/next.manifest", std::ios::binary | std::ios::trunc);
  ok_ = static_cast<bool>(out_);
}

void ManifestCache::Writer::Write(std::string_view bytes) {
  if (!ok_) return;
  out_.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ok_ = static_cast<bool>(out_);
}

void ManifestCache::Writer::Commit(const Repository& repo, const std::string& name) {
  out_.close();
  if (!ok_ || out_.fail()) return;
  std::error_code ec;
  std::filesystem::rename(dir_ + "/next.manifest", dir_ + "/last.manifest", ec);
  if (ec) return;
  std::ofstream nf(dir_ + "/last.name", std::ios::trunc);
  nf << name << "\n";
}

}  // namespace skiff::sync
