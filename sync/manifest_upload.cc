#include "sync/manifest_upload.h"

namespace skiff::sync {

Result<std::unique_ptr<ManifestUpload>> ManifestUpload::Begin(RemoteFs& fs,
                                                              const std::string& path) {
  std::unique_ptr<ManifestUpload> u(new ManifestUpload());
  u->path_ = path;
  if (auto* server = dynamic_cast<ServerBuildFs*>(&fs); server && server->server_build()) {
    BuildSpec spec;
    spec.tmp = path + ".part";
    spec.dst = path;
    spec.replace = true;
    spec.sync = true;
    u->build_ = server->BeginBuild(std::move(spec));
    return u;
  }
  SKIFF_ASSIGN_OR_RETURN(
      u->file_, fs.Open(path, OpenFlags::kWrite | OpenFlags::kCreate | OpenFlags::kTruncate, 0600));
  u->writer_.emplace(*u->file_, fs.caps().max_write);
  return u;
}

Status ManifestUpload::Append(std::string_view bytes) {
  if (build_) {
    hash_.Update(bytes);
    size_ += bytes.size();
    return build_->Literal(bytes);
  }
  return writer_->Append(bytes);
}

Status ManifestUpload::Finish() {
  if (build_) {
    FileAttr a;
    a.valid = FileAttr::kPermissions;
    a.mode = 0600;
    return build_->Commit(size_, hash_.HexDigest(), a, "")
        .status()
        .WithContext("writing the manifest");
  }
  SKIFF_RETURN_IF_ERROR(writer_->Finish(0));
  Status sync = file_->Sync();
  if (!sync.ok() && !sync.Is(Code::kUnsupported)) return sync.WithContext("fsync of the manifest");
  return file_->Close();
}

}  // namespace skiff::sync
