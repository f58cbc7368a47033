#include "transport/sftp_file.h"

#include <algorithm>
#include <future>
#include <mutex>

namespace skiff {

SftpFile::SftpFile(SftpClient* client, std::string handle, std::string path)
    : client_(client),
      handle_(std::move(handle)),
      path_(std::move(path)),
      ident_(std::make_shared<const Ident>(Ident{client_, handle_, path_})) {}

SftpFile::~SftpFile() {
  if (!closed_.load()) Close().IgnoreError();
}

Status SftpFile::CheckOpen() const {
  if (closed_.load()) return Status::Invalid(path_ + ": file handle already closed");
  return Status::Ok();
}

Result<std::string> SftpFile::Read(uint64_t offset, uint32_t len) {
  std::promise<Result<std::string>> p;
  auto f = p.get_future();
  ReadAsync(offset, len, [&p](Result<std::string> r) { p.set_value(std::move(r)); });
  return f.get();
}

Status SftpFile::Write(uint64_t offset, std::string_view data) {
  std::promise<Status> p;
  auto f = p.get_future();
  // SubmitWrite copies each part straight into the channel; WriteAsync would add a copy.
  uint32_t max = client_->caps().max_write;
  struct Join {
    std::mutex mu;
    size_t left;
    Status first;
  };
  size_t parts = data.empty() ? 1 : (data.size() + max - 1) / max;
  auto join = std::make_shared<Join>();
  join->left = parts;
  DoneCallback done = [join, &p](Status st) {
    std::lock_guard<std::mutex> l(join->mu);
    if (!st.ok() && join->first.ok()) join->first = st;
    if (--join->left == 0) p.set_value(join->first);
  };
  if (Status st = CheckOpen(); !st.ok()) return st;
  for (size_t i = 0; i < parts; ++i) {
    size_t off = i * size_t{max};
    SubmitWrite(offset + off, data.substr(off, std::min<size_t>(max, data.size() - off)), done);
  }
  return f.get();
}

void SftpFile::ReadAsync(uint64_t offset, uint32_t len, ReadCallback cb) {
  if (Status st = CheckOpen(); !st.ok()) return cb(st);
  len = std::min(len, client_->caps().max_read);
  auto acc = std::make_shared<std::string>();
  ReadInto(ident_, offset, len, std::move(acc), std::move(cb));
}

void SftpFile::ReadInto(std::shared_ptr<const Ident> id, uint64_t offset, uint32_t len,
                        std::shared_ptr<std::string> acc, ReadCallback cb) {
  auto req = id->client->NewRequest(sftp::kRead, id->handle.size() + 20);
  req.packet.String(id->handle).U64(offset).U32(len);
  SftpClient* client = id->client;
  client->Submit(
      std::move(req),
      [id, offset, len, acc, cb = std::move(cb)](Result<SftpReply> r) mutable {
        const std::string& path = id->path;
        if (r.ok() && r->type == sftp::kData) {
          if (r->body.size() > len) {
            return cb(Status::Corrupt("read " + path + ": server returned " +
                                      std::to_string(r->body.size()) + " bytes for a " +
                                      std::to_string(len) + "-byte read"));
          }
          uint32_t got = static_cast<uint32_t>(r->body.size());
          if (acc->empty()) {
            *acc = std::move(r->body);
          } else {
            acc->append(r->body);
          }
          if (got == len || got == 0) return cb(std::move(*acc));
          // A short read before EOF: ask for the rest (never blocks on this thread).
          return ReadInto(std::move(id), offset + got, len - got, std::move(acc), std::move(cb));
        }
        if (r.ok() && r->type == sftp::kStatus) {
          auto s = sftp::DecodeStatus(r->body);
          if (s.ok() && s->code == sftp::kFxEof) return cb(std::move(*acc));
        }
        cb(SftpClient::ExpectType(r, sftp::kData, "read " + path));
      },
      len);
}

void SftpFile::SubmitWrite(uint64_t offset, std::string_view data, DoneCallback cb) {
  // The payload (the last field, `string data`) goes from `data` straight into the
  // channel; the packet holds only the header and the payload's length.
  auto req = client_->NewRequest(sftp::kWrite, handle_.size() + 24);
  req.packet.String(handle_).U64(offset).U32(static_cast<uint32_t>(data.size()));
  client_->SubmitWithPayload(std::move(req), data,
                             [id = ident_, cb = std::move(cb)](Result<SftpReply> r) {
                               cb(SftpClient::ExpectOk(r, "write " + id->path));
                             });
}

void SftpFile::WriteAsync(uint64_t offset, std::string data, DoneCallback cb) {
  WriteAsyncFrom(offset, data, std::move(cb));  // copied before it returns
}

void SftpFile::WriteAsyncFrom(uint64_t offset, std::string_view data, DoneCallback cb) {
  if (Status st = CheckOpen(); !st.ok()) return cb(st);
  uint32_t max = client_->caps().max_write;
  if (data.size() <= max) return SubmitWrite(offset, data, std::move(cb));
  struct Join {
    std::mutex mu;
    size_t left;
    Status first;
    DoneCallback cb;
  };
  auto join = std::make_shared<Join>();
  join->left = (data.size() + max - 1) / max;
  join->cb = std::move(cb);
  size_t parts = join->left;
  for (size_t i = 0; i < parts; ++i) {
    size_t off = i * size_t{max};
    SubmitWrite(offset + off, data.substr(off, std::min<size_t>(max, data.size() - off)),
                [join](Status st) {
                  DoneCallback done;
                  Status result;
                  {
                    std::lock_guard<std::mutex> l(join->mu);
                    if (!st.ok() && join->first.ok()) join->first = st;
                    if (--join->left > 0) return;
                    done = std::move(join->cb);
                    result = join->first;
                  }
                  done(result);
                });
  }
}

Result<FileAttr> SftpFile::Stat() {
  SKIFF_RETURN_IF_ERROR(CheckOpen());
  auto req = client_->NewRequest(sftp::kFstat);
  req.packet.String(handle_);
  auto r = client_->Call(std::move(req));
  SKIFF_RETURN_IF_ERROR(SftpClient::ExpectType(r, sftp::kAttrs, "fstat " + path_));
  return sftp::DecodeAttrs(r->body);
}

Status SftpFile::SetStat(const FileAttr& attr) {
  SKIFF_RETURN_IF_ERROR(CheckOpen());
  auto req = client_->NewRequest(sftp::kFsetstat);
  req.packet.String(handle_).Attrs(attr);
  return SftpClient::ExpectOk(client_->Call(std::move(req)), "fsetstat " + path_);
}

void SftpFile::SetStatAsync(const FileAttr& attr, DoneCallback cb) {
  if (Status st = CheckOpen(); !st.ok()) return cb(st);
  auto req = client_->NewRequest(sftp::kFsetstat);
  req.packet.String(handle_).Attrs(attr);
  client_->Submit(std::move(req), [id = ident_, cb = std::move(cb)](Result<SftpReply> r) {
    cb(SftpClient::ExpectOk(r, "fsetstat " + id->path));
  });
}

Status SftpFile::Sync() {
  SKIFF_RETURN_IF_ERROR(CheckOpen());
  if (!client_->caps().fsync) {
    return Status::Unsupported("fsync " + path_ + ": the server does not offer fsync@openssh.com");
  }
  auto req = client_->NewExtended("fsync@openssh.com");
  req.packet.String(handle_);
  return SftpClient::ExpectOk(client_->Call(std::move(req)), "fsync " + path_);
}

Status SftpFile::Close() {
  if (closed_.exchange(true)) return Status::Invalid(path_ + ": file handle already closed");
  auto req = client_->NewRequest(sftp::kClose);
  req.packet.String(handle_);
  return SftpClient::ExpectOk(client_->Call(std::move(req)), "close " + path_);
}

void SftpFile::CloseAsync(DoneCallback cb) {
  if (closed_.exchange(true)) return cb(Status::Invalid(path_ + ": file handle already closed"));
  auto req = client_->NewRequest(sftp::kClose);
  req.packet.String(handle_);
  client_->Submit(std::move(req), [id = ident_, cb = std::move(cb)](Result<SftpReply> r) {
    cb(SftpClient::ExpectOk(r, "close " + id->path));
  });
}

}  // namespace skiff
