#include "sync/manifest.h"

#include <zlib.h>

#include <charconv>
#include <cstdio>
#include <vector>

#include "sync/rel_path.h"

namespace skiff::sync {
namespace {

constexpr size_t kFlushBytes = 256 * 1024;
// Compressed output is handed out (writer) and inflated (reader) in pieces of this size,
// so a hostile stream that inflates enormously is still read with bounded memory.
constexpr size_t kZlibPiece = 256 * 1024;
// zlib's default level: the benchmark's 5100-entry manifest (541 KB of text) compresses
// to about a quarter in a few milliseconds; level 9 gains little more.
constexpr int kZlibLevel = 6;
// A single line longer than this is refused: paths are bounded by PATH_MAX-ish limits
// and escaping at most triples them, so real manifests stay far below.
constexpr size_t kMaxLine = 64 * 1024;

const char kHex[] = "0123456789abcdef";

bool NeedsEscape(unsigned char c) { return c < 0x20 || c == 0x7f || c == '%'; }

int HexVal(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

template <typename T>
bool ParseNum(std::string_view s, T& out, int base = 10) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out, base);
  return ec == std::errc() && p == s.data() + s.size();
}

std::vector<std::string_view> SplitTabs(std::string_view line) {
  std::vector<std::string_view> f;
  size_t i = 0;
  while (true) {
    size_t j = line.find('\t', i);
    if (j == std::string_view::npos) {
      f.push_back(line.substr(i));
      return f;
    }
    f.push_back(line.substr(i, j - i));
    i = j + 1;
  }
}

}  // namespace

std::string EscapeField(std::string_view s) {
  std::string r;
  r.reserve(s.size());
  for (unsigned char c : s) {
    if (NeedsEscape(c)) {
      r += '%';
      r += kHex[c >> 4];
      r += kHex[c & 15];
    } else {
      r += static_cast<char>(c);
    }
  }
  return r;
}

Result<std::string> UnescapeField(std::string_view s) {
  std::string r;
  r.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size()) return Status::Corrupt("truncated %-escape");
      int h = HexVal(s[i + 1]), l = HexVal(s[i + 2]);
      if (h < 0 || l < 0) return Status::Corrupt("bad %-escape");
      r += static_cast<char>(h * 16 + l);
      i += 2;
    } else if (NeedsEscape(c)) {
      return Status::Corrupt("unescaped control byte in field");
    } else {
      r += static_cast<char>(c);
    }
  }
  return r;
}

bool ManifestEntry::SameContentMeta(const ManifestEntry& o) const {
  return type == o.type && mode == o.mode && uid == o.uid && gid == o.gid && mtime == o.mtime &&
         size == o.size && hash == o.hash;
}

struct ManifestWriter::Deflater {
  z_stream z{};
  bool ok = false;
  Deflater() { ok = deflateInit(&z, kZlibLevel) == Z_OK; }
  ~Deflater() {
    if (ok) deflateEnd(&z);
  }
};

ManifestWriter::ManifestWriter(std::string snapshot_name, Sink sink)
    : sink_(std::move(sink)), deflater_(std::make_unique<Deflater>()) {
  // The header line stays plain: a reader that only knows version 1 then refuses the
  // manifest naming its version instead of calling it garbage.
  std::string header = "skiff-manifest\t" + std::to_string(kManifestVersion) + "\t" +
                       EscapeField(snapshot_name) + "\n";
  out_ = header;
  hasher_.Update(header);
  if (!deflater_->ok) failed_ = true;
}

ManifestWriter::~ManifestWriter() = default;

Status ManifestWriter::Emit(std::string_view bytes) {
  hasher_.Update(bytes);
  buf_.append(bytes);
  if (buf_.size() >= kFlushBytes) return Flush(false);
  return Status::Ok();
}

Status ManifestWriter::Flush(bool finish) {
  z_stream& z = deflater_->z;
  z.next_in = reinterpret_cast<Bytef*>(buf_.data());
  z.avail_in = static_cast<uInt>(buf_.size());
  while (true) {
    size_t at = out_.size();
    out_.resize(at + kZlibPiece);
    z.next_out = reinterpret_cast<Bytef*>(out_.data() + at);
    z.avail_out = static_cast<uInt>(kZlibPiece);
    int ret = deflate(&z, finish ? Z_FINISH : Z_NO_FLUSH);
    out_.resize(at + kZlibPiece - z.avail_out);
    if (ret == Z_STREAM_END) break;
    if (ret != Z_OK && ret != Z_BUF_ERROR) {
      failed_ = true;
      return Status::Io("compressing the manifest: zlib error " + std::to_string(ret));
    }
    if (!finish && z.avail_in == 0 && z.avail_out != 0) break;
  }
  buf_.clear();
  if (out_.empty()) return Status::Ok();
  Status st = sink_(out_);
  out_.clear();
  if (!st.ok()) failed_ = true;
  return st;
}

Status ManifestWriter::Add(const ManifestEntry& e) {
  if (failed_) return Status::Io("manifest writer failed earlier");
  SKIFF_RETURN_IF_ERROR(ValidateRelPath(e.path).WithContext("manifest entry"));
  if (count_ > 0 && !RelPathLess(last_path_, e.path))
    return Status::Invalid("manifest entries out of order: '" + e.path + "' after '" + last_path_ +
                           "'");
  last_path_ = e.path;
  char mode[16];
  snprintf(mode, sizeof mode, "%o", e.mode & 07777);
  std::string line;
  line.reserve(e.path.size() + 128);
  line += static_cast<char>(e.type);
  line += '\t';
  line += EscapeField(e.path);
  line += '\t';
  line += mode;
  for (auto v : {std::to_string(e.uid), std::to_string(e.gid), std::to_string(e.mtime),
                 std::to_string(e.size)}) {
    line += '\t';
    line += v;
  }
  line += '\t';
  line += e.hash;
  line += '\t';
  line += e.has_signature ? "S" : "";
  line += '\t';
  line += std::to_string(e.link_group);
  line += '\t';
  line += std::to_string(e.ino);
  line += '\t';
  line += std::to_string(e.ctime);
  line += '\t';
  line += EscapeField(e.link_target);
  line += '\n';
  ++count_;
  return Emit(line);
}

Status ManifestWriter::Finish() {
  if (failed_) return Status::Io("manifest writer failed earlier");
  std::string trailer = "end\t" + std::to_string(count_) + "\t" + hasher_.HexDigest() + "\n";
  buf_ += trailer;
  return Flush(true);
}

struct ManifestReader::Inflater {
  z_stream z{};
  bool ok = false;
  std::string in;  // compressed bytes; z.next_in points into it
  bool source_done = false;
  bool stream_end = false;
  Inflater() { ok = inflateInit(&z) == Z_OK; }
  ~Inflater() {
    if (ok) inflateEnd(&z);
  }
};

ManifestReader::ManifestReader(Source source) : source_(std::move(source)) {}
ManifestReader::~ManifestReader() = default;

Result<std::string> ManifestReader::NextPiece() {
  if (!inflater_) return source_();
  Inflater& f = *inflater_;
  z_stream& z = f.z;
  while (true) {
    if (f.stream_end) {
      // Nothing may follow the compressed stream.
      while (!f.source_done) {
        SKIFF_ASSIGN_OR_RETURN(std::string more, source_());
        if (more.empty())
          f.source_done = true;
        else
          return Status::Corrupt("data after the end of the compressed manifest");
      }
      return std::string();
    }
    if (z.avail_in == 0 && !f.source_done) {
      SKIFF_ASSIGN_OR_RETURN(f.in, source_());
      if (f.in.empty()) f.source_done = true;
      z.next_in = reinterpret_cast<Bytef*>(f.in.data());
      z.avail_in = static_cast<uInt>(f.in.size());
    }
    std::string out(kZlibPiece, '\0');
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    int ret = inflate(&z, Z_NO_FLUSH);
    out.resize(out.size() - z.avail_out);
    if (ret == Z_STREAM_END) {
      f.stream_end = true;
      if (z.avail_in != 0) return Status::Corrupt("data after the end of the compressed manifest");
    } else if (ret == Z_BUF_ERROR) {
      if (z.avail_in == 0 && f.source_done && out.empty())
        return Status::Corrupt("compressed manifest is truncated");
    } else if (ret != Z_OK) {
      return Status::Corrupt(std::string("compressed manifest is corrupt (zlib: ") +
                             (z.msg ? z.msg : std::to_string(ret).c_str()) + ")");
    }
    if (!out.empty()) return out;
    if (z.avail_in == 0 && f.source_done && !f.stream_end)
      return Status::Corrupt("compressed manifest is truncated");
  }
}

Result<std::optional<std::string>> ManifestReader::NextLine() {
  while (true) {
    size_t nl = buf_.find('\n', pos_);
    if (nl != std::string::npos) {
      std::string line = buf_.substr(pos_, nl - pos_);
      pos_ = nl + 1;
      return std::optional<std::string>(std::move(line));
    }
    if (buf_.size() - pos_ > kMaxLine) return Status::Corrupt("manifest line too long");
    if (eof_) {
      if (pos_ != buf_.size()) return Status::Corrupt("manifest ends in the middle of a line");
      return std::optional<std::string>();
    }
    buf_.erase(0, pos_);
    pos_ = 0;
    SKIFF_ASSIGN_OR_RETURN(std::string more, NextPiece());
    if (more.empty())
      eof_ = true;
    else
      buf_ += more;
  }
}

Status ManifestReader::Open() {
  auto line = NextLine();
  if (!line.ok()) return line.status();
  if (!line->has_value()) return Status::Corrupt("manifest is empty");
  auto f = SplitTabs(**line);
  if (f.size() != 3 || f[0] != "skiff-manifest") return Status::Corrupt("not a skiff manifest");
  int version = 0;
  if (!ParseNum(f[1], version) || version < kOldestManifestVersion || version > kManifestVersion)
    return Status::Corrupt(
        "unsupported manifest version '" + std::string(f[1]) + "' (this skiff reads versions " +
        std::to_string(kOldestManifestVersion) + " to " + std::to_string(kManifestVersion) + ")");
  SKIFF_ASSIGN_OR_RETURN(name_, UnescapeField(f[2]));
  hasher_.Update(**line + "\n");
  if (version >= 2) {
    // The rest is one zlib stream: what was read past the header line is its start.
    inflater_ = std::make_unique<Inflater>();
    if (!inflater_->ok) return Status::Io("cannot start zlib to read the manifest");
    inflater_->in = buf_.substr(pos_);
    inflater_->z.next_in = reinterpret_cast<Bytef*>(inflater_->in.data());
    inflater_->z.avail_in = static_cast<uInt>(inflater_->in.size());
    if (eof_) inflater_->source_done = true;
    buf_.clear();
    pos_ = 0;
    eof_ = false;
  }
  return Status::Ok();
}

Result<std::optional<ManifestEntry>> ManifestReader::Next() {
  if (!failed_.ok()) return failed_;
  if (done_) return std::optional<ManifestEntry>();
  auto fail = [&](std::string msg) {
    failed_ = Status::Corrupt("manifest entry " + std::to_string(count_ + 1) + ": " + msg);
    return failed_;
  };
  auto line_r = NextLine();
  if (!line_r.ok()) return fail(line_r.status().message());
  if (!line_r->has_value()) return fail("manifest is truncated (no trailer)");
  const std::string& line = **line_r;
  auto f = SplitTabs(line);
  if (!f.empty() && f[0] == "end") {
    uint64_t n = 0;
    if (f.size() != 3 || !ParseNum(f[1], n)) return fail("malformed trailer");
    if (n != count_)
      return fail("trailer says " + std::to_string(n) + " entries, read " + std::to_string(count_));
    if (f[2] != hasher_.HexDigest()) return fail("manifest hash mismatch (corrupted)");
    auto extra = NextLine();
    if (!extra.ok() || extra->has_value()) return fail("data after the trailer");
    done_ = true;
    return std::optional<ManifestEntry>();
  }
  hasher_.Update(line);
  hasher_.Update("\n");
  if (f.size() != 13) return fail("expected 13 fields, found " + std::to_string(f.size()));
  ManifestEntry e;
  if (f[0] == "f")
    e.type = EntryType::kFile;
  else if (f[0] == "d")
    e.type = EntryType::kDir;
  else if (f[0] == "l")
    e.type = EntryType::kSymlink;
  else
    return fail("unknown entry type '" + std::string(f[0]) + "'");
  auto path = UnescapeField(f[1]);
  if (!path.ok()) return fail(path.status().message());
  e.path = std::move(*path);
  Status valid = ValidateRelPath(e.path);
  if (!valid.ok()) return fail(valid.message());
  if (count_ > 0 && !RelPathLess(last_path_, e.path))
    return fail("entries out of order or duplicated at '" + e.path + "'");
  if (!ParseNum(f[2], e.mode, 8) || e.mode > 07777) return fail("bad mode");
  if (!ParseNum(f[3], e.uid) || !ParseNum(f[4], e.gid)) return fail("bad owner");
  if (!ParseNum(f[5], e.mtime)) return fail("bad mtime");
  if (!ParseNum(f[6], e.size)) return fail("bad size");
  e.hash = std::string(f[7]);
  if (e.type == EntryType::kFile ? !IsContentHash(e.hash) : !e.hash.empty())
    return fail("bad content hash");
  if (f[8] == "S")
    e.has_signature = true;
  else if (!f[8].empty())
    return fail("bad signature flag");
  if (!ParseNum(f[9], e.link_group)) return fail("bad link group");
  if (!ParseNum(f[10], e.ino) || !ParseNum(f[11], e.ctime)) return fail("bad inode data");
  auto target = UnescapeField(f[12]);
  if (!target.ok()) return fail(target.status().message());
  e.link_target = std::move(*target);
  if (e.type == EntryType::kSymlink) {
    if (e.link_target.empty() || e.link_target.find('\0') != std::string::npos)
      return fail("bad symlink target");
  } else if (!e.link_target.empty()) {
    return fail("link target on a non-symlink");
  }
  if (e.type != EntryType::kFile && (e.size != 0 || e.link_group != 0 || e.has_signature))
    return fail("file fields on a non-file");
  last_path_ = e.path;
  ++count_;
  return std::optional<ManifestEntry>(std::move(e));
}

}  // namespace skiff::sync
