// SFTP packet encoding/decoding and the SSH_FX_* -> Status conversion.
#include "transport/sftp_codec.h"

#include <boost/test/unit_test.hpp>

using namespace skiff;
using namespace skiff::sftp;

namespace {
std::string Str(std::string_view s) {
  PacketWriter w(0);
  w.String(s);
  return w.Finish().substr(5);
}
}  // namespace

BOOST_AUTO_TEST_SUITE(sftp_codec)

BOOST_AUTO_TEST_CASE(writer_patches_length_and_encodes_big_endian) {
  PacketWriter w(kOpen);
  w.U32(7).String("ab").U64(0x0102030405060708ull);
  std::string p = w.Finish();
  BOOST_TEST(p.size() == 4u + 1 + 4 + 6 + 8);
  BOOST_TEST(DecodePacketLength(p).value() == p.size() - 4);
  BOOST_TEST(static_cast<uint8_t>(p[4]) == kOpen);
  BOOST_TEST(p.substr(9, 6) == std::string("\0\0\0\2ab", 6));
  BOOST_TEST(static_cast<uint8_t>(p[15]) == 1);
  BOOST_TEST(static_cast<uint8_t>(p[22]) == 8);
}

BOOST_AUTO_TEST_CASE(attrs_round_trip) {
  FileAttr a;
  a.valid = FileAttr::kSize | FileAttr::kPermissions | FileAttr::kTimes | FileAttr::kUidGid;
  a.size = 1ull << 40;
  a.uid = 5;
  a.gid = 6;
  a.mode = 0100640;
  a.atime = 100;
  a.mtime = 4000000000ll;
  PacketWriter w(kAttrs);
  w.U32(1).Attrs(a);
  std::string p = w.Finish();
  std::string_view body;
  auto h = DecodeReplyHeader(std::string_view(p).substr(4), &body);
  BOOST_REQUIRE(h.ok());
  BOOST_TEST(h->type == kAttrs);
  BOOST_TEST(h->id == 1u);
  auto b = DecodeAttrs(body);
  BOOST_REQUIRE(b.ok());
  BOOST_TEST(b->valid == a.valid);
  BOOST_TEST(b->size == a.size);
  BOOST_TEST(b->uid == 5u);
  BOOST_TEST(b->gid == 6u);
  BOOST_TEST(b->mode == a.mode);
  BOOST_TEST(b->atime == 100);
  BOOST_TEST(b->mtime == 4000000000ll);
}

BOOST_AUTO_TEST_CASE(hostile_lengths_are_corrupt_not_crashes) {
  // Packet longer than the cap.
  auto big = DecodePacketLength(std::string("\x01\x00\x00\x00", 4));
  BOOST_TEST(big.status().Is(Code::kCorrupt));
  BOOST_TEST(big.status().message().find("exceeds") != std::string::npos);
  BOOST_TEST(DecodePacketLength(std::string("\0\0\0\0", 4)).status().Is(Code::kCorrupt));
  BOOST_TEST(DecodePacketLength("ab").status().Is(Code::kCorrupt));
  // A string whose length points past the end.
  auto d = DecodeData(std::string("\x00\x10\x00\x00xyz", 7));
  BOOST_TEST(d.status().Is(Code::kCorrupt));
  BOOST_TEST(d.status().message().find("bad string length for data") != std::string::npos);
  // A NAME count that cannot fit in the remaining bytes.
  auto n = DecodeName(std::string("\xff\xff\xff\xff", 4) + Str("a"));
  BOOST_TEST(n.status().Is(Code::kCorrupt));
  BOOST_TEST(n.status().message().find("4294967295 entries") != std::string::npos);
  // Extended attribute count lying.
  auto a = DecodeAttrs(std::string("\x80\0\0\0\x7f\xff\xff\xff", 8));
  BOOST_TEST(a.status().Is(Code::kCorrupt));
  // Truncated in the middle of a u64.
  auto l = DecodeLimits(std::string(12, '\0'));
  BOOST_TEST(l.status().Is(Code::kCorrupt));
  BOOST_TEST(l.status().message().find("truncated") != std::string::npos);
  // Trailing garbage.
  BOOST_TEST(DecodeHandle(Str("h") + "x").status().Is(Code::kCorrupt));
  // Oversized handle.
  BOOST_TEST(DecodeHandle(Str(std::string(300, 'h'))).status().Is(Code::kCorrupt));
}

BOOST_AUTO_TEST_CASE(version_lists_extensions) {
  PacketWriter w(kVersion);
  w.U32(3).String("limits@openssh.com").String("1").String("copy-data").String("1");
  std::string p = w.Finish();
  auto v = DecodeVersion(std::string_view(p).substr(4));
  BOOST_REQUIRE(v.ok());
  BOOST_TEST(v->version == 3u);
  BOOST_REQUIRE(v->extensions.size() == 2u);
  BOOST_TEST(v->extensions[1].first == "copy-data");
  auto bad = DecodeVersion(std::string_view(p).substr(4, p.size() - 6));
  BOOST_TEST(bad.status().Is(Code::kCorrupt));
  auto wrong = DecodeVersion(std::string("\x65\0\0\0\0", 5));
  BOOST_TEST(wrong.status().message().find("expected SFTP VERSION") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(name_decodes_entries) {
  std::string body = std::string("\0\0\0\2", 4) + Str("a") + Str("la") +
                     std::string("\0\0\0\1\0\0\0\0\0\0\0\5", 12) + Str("b") + Str("") +
                     std::string("\0\0\0\0", 4);
  auto n = DecodeName(body);
  BOOST_REQUIRE(n.ok());
  BOOST_REQUIRE(n->size() == 2u);
  BOOST_TEST((*n)[0].filename == "a");
  BOOST_TEST((*n)[0].attr.size == 5u);
  BOOST_TEST((*n)[1].attr.valid == 0u);
}

BOOST_AUTO_TEST_CASE(status_codes_map_to_categories) {
  BOOST_TEST(StatusFromSftp(kFxNoSuchFile, "No such file", "open /x").Is(Code::kNotFound));
  BOOST_TEST(StatusFromSftp(kFxPermissionDenied, "", "open /x").Is(Code::kPermission));
  Status f = StatusFromSftp(kFxFailure, "Disk full", "write /x");
  BOOST_TEST(f.Is(Code::kIo));
  BOOST_TEST(f.message() == "write /x: Disk full");
  BOOST_TEST(StatusFromSftp(kFxOpUnsupported, "", "x").Is(Code::kUnsupported));
  BOOST_TEST(StatusFromSftp(kFxConnectionLost, "", "x").retryable());
  BOOST_TEST(StatusFromSftp(kFxBadMessage, "", "x").Is(Code::kCorrupt));
  BOOST_TEST(StatusFromSftp(99, "", "x").message().find("unknown SFTP status code 99") !=
             std::string::npos);
  auto s = DecodeStatus(std::string("\0\0\0\2", 4) + Str("gone"));
  BOOST_REQUIRE(s.ok());
  BOOST_TEST(s->code == 2u);
  BOOST_TEST(s->message == "gone");
}

BOOST_AUTO_TEST_SUITE_END()
