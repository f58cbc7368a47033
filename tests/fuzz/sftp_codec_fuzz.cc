// Fuzzes the SFTP reply decoder: the input is treated as a stream of length-prefixed
// packets from a hostile server, and every decoder a client would apply is run on each.
// Decoding must return a Status (never crash, never allocate from an unchecked count).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "transport/sftp_codec.h"

using namespace skiff::sftp;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  // Every decoder on the raw input, as if it were one packet body.
  DecodeVersion(in).status().IgnoreError();
  DecodeStatus(in).status().IgnoreError();
  DecodeHandle(in).status().IgnoreError();
  DecodeData(in).status().IgnoreError();
  DecodeName(in).status().IgnoreError();
  DecodeAttrs(in).status().IgnoreError();
  DecodeLimits(in).status().IgnoreError();
  DecodeStatVfs(in).status().IgnoreError();
  // Then as a framed stream, dispatching on the type byte like the client does.
  while (in.size() >= 4) {
    auto len = DecodePacketLength(in.substr(0, 4));
    if (!len.ok()) break;
    in.remove_prefix(4);
    std::string_view packet = in.substr(0, *len);
    in.remove_prefix(packet.size());
    if (!packet.empty() && static_cast<uint8_t>(packet[0]) == kVersion) {
      DecodeVersion(packet).status().IgnoreError();
      continue;
    }
    std::string_view body;
    auto h = DecodeReplyHeader(packet, &body);
    if (!h.ok()) continue;
    switch (h->type) {
      case kStatus: {
        auto s = DecodeStatus(body);
        if (s.ok() && s->code > kFxEof) StatusFromSftp(s->code, s->message, "fuzz").IgnoreError();
        break;
      }
      case kHandle:
        DecodeHandle(body).status().IgnoreError();
        break;
      case kData:
        DecodeData(body).status().IgnoreError();
        break;
      case kName:
        DecodeName(body).status().IgnoreError();
        break;
      case kAttrs:
        DecodeAttrs(body).status().IgnoreError();
        break;
      case kExtendedReply:
        DecodeLimits(body).status().IgnoreError();
        DecodeStatVfs(body).status().IgnoreError();
        break;
      default:
        break;
    }
  }
  return 0;
}
