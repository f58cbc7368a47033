// SftpClient against a scripted fake server on a socketpair: hostile and broken replies
// give clear errors, a dying peer fails every request, the in-flight window holds.
#include "transport/sftp_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <functional>
#include <future>
#include <thread>

#include "transport/process_channel.h"
#include "transport/sftp_codec.h"

using namespace skiff;
using namespace skiff::sftp;

namespace {

// The server side of a socketpair, driven by a script running on its own thread.
class FakeServer {
 public:
  explicit FakeServer(std::function<void(FakeServer&)> script) {
    int sv[2];
    BOOST_REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    fd_ = sv[0];
    client_fd_ = sv[1];
    thread_ = std::thread([this, script] { script(*this); });
  }
  ~FakeServer() {
    thread_.join();
    if (fd_ >= 0) close(fd_);
  }
  std::unique_ptr<Channel> TakeClientChannel() {
    return std::make_unique<ProcessChannel>(client_fd_, -1);
  }
  // Reads one request packet (without length); empty when the client is gone.
  std::string ReadPacket() {
    std::string len = ReadN(4);
    if (len.size() < 4) return "";
    uint32_t n = DecodePacketLength(len).value();
    return ReadN(n);
  }
  static uint32_t IdOf(const std::string& packet) {
    PacketReader r(std::string_view(packet).substr(1));
    return r.U32("id").value();
  }
  void Send(const std::string& bytes) {
    size_t off = 0;
    while (off < bytes.size()) {
      ssize_t n = send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;
      off += n;
    }
  }
  void SendVersion() {
    PacketWriter w(kVersion);
    w.U32(3);
    Send(w.Finish());
  }
  void SendStatus(uint32_t id, uint32_t code, const std::string& msg) {
    PacketWriter w(kStatus);
    w.U32(id).U32(code).String(msg).String("");
    Send(w.Finish());
  }
  // True when another request arrives within a short grace period.
  bool MoreWaiting() {
    pollfd p{fd_, POLLIN, 0};
    return poll(&p, 1, 100) > 0;
  }
  void Hangup() {
    close(fd_);
    fd_ = -1;
  }

 private:
  std::string ReadN(size_t n) {
    std::string s(n, '\0');
    size_t got = 0;
    while (got < n) {
      ssize_t r = recv(fd_, s.data() + got, n - got, 0);
      if (r <= 0) return s.substr(0, got);
      got += r;
    }
    return s;
  }
  int fd_ = -1;
  int client_fd_ = -1;
  std::thread thread_;
};

SftpClient::Request Stat(SftpClient& c) {
  auto r = c.NewRequest(kStat);
  r.packet.String("/x");
  return r;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(sftp_client)

BOOST_AUTO_TEST_CASE(a_peer_that_is_not_sftp_is_refused) {
  FakeServer srv([](FakeServer& s) {
    s.ReadPacket();
    s.Send("SSH-2.0-surprise\r\n");
  });
  auto c = SftpClient::Start(srv.TakeClientChannel());
  BOOST_TEST(c.status().Is(Code::kCorrupt));
  BOOST_TEST(c.status().message().find("exceeds the limit") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(eof_during_handshake_is_connection_lost) {
  FakeServer srv([](FakeServer& s) {
    s.ReadPacket();
    s.Hangup();
  });
  auto c = SftpClient::Start(srv.TakeClientChannel());
  BOOST_TEST(c.status().Is(Code::kConnectionLost));
  BOOST_TEST(c.status().retryable());
}

BOOST_AUTO_TEST_CASE(status_replies_become_statuses) {
  FakeServer srv([](FakeServer& s) {
    s.ReadPacket();
    s.SendVersion();
    std::string p = s.ReadPacket();
    s.SendStatus(FakeServer::IdOf(p), kFxPermissionDenied, "no way");
    p = s.ReadPacket();
    s.SendStatus(FakeServer::IdOf(p), kFxOpUnsupported, "");
    s.ReadPacket();
  });
  auto c = SftpClient::Start(srv.TakeClientChannel());
  BOOST_REQUIRE(c.ok());
  auto& cl = **c;
  Status st = SftpClient::ExpectType(cl.Call(Stat(cl)), kAttrs, "stat /x");
  BOOST_TEST(st.Is(Code::kPermission));
  BOOST_TEST(st.message() == "stat /x: no way");
  BOOST_TEST(SftpClient::ExpectOk(cl.Call(Stat(cl)), "stat /x").Is(Code::kUnsupported));
}

BOOST_AUTO_TEST_CASE(truncated_reply_then_hangup_fails_pending_requests) {
  FakeServer srv([](FakeServer& s) {
    s.ReadPacket();
    s.SendVersion();
    std::string p = s.ReadPacket();
    PacketWriter w(kAttrs);
    w.U32(FakeServer::IdOf(p)).U32(0);
    std::string full = w.Finish();
    s.Send(full.substr(0, full.size() - 2));
    s.Hangup();
  });
  auto c = SftpClient::Start(srv.TakeClientChannel());
  BOOST_REQUIRE(c.ok());
  auto r = (*c)->Call(Stat(**c));
  BOOST_TEST(r.status().Is(Code::kConnectionLost));
  BOOST_TEST(r.status().message().find("closed the channel") != std::string::npos);
  // Later requests fail at once.
  BOOST_TEST((*c)->Call(Stat(**c)).status().Is(Code::kConnectionLost));
}

BOOST_AUTO_TEST_CASE(lying_data_length_is_corrupt) {
  FakeServer srv([](FakeServer& s) {
    s.ReadPacket();
    s.SendVersion();
    std::string p = s.ReadPacket();
    PacketWriter w(kData);
    w.U32(FakeServer::IdOf(p)).U32(1000).U32(0);  // claims 1000 bytes, carries 4
    s.Send(w.Finish());
    s.ReadPacket();  // until the client goes away
  });
  auto c = SftpClient::Start(srv.TakeClientChannel());
  BOOST_REQUIRE(c.ok());
  auto r = (*c)->Call(Stat(**c));
  BOOST_TEST(r.status().Is(Code::kCorrupt));
  BOOST_TEST(r.status().message().find("claims 1000 payload bytes") != std::string::npos);
  BOOST_TEST((*c)->Call(Stat(**c)).status().Is(Code::kCorrupt));
}

BOOST_AUTO_TEST_CASE(reply_to_unknown_id_and_huge_length_are_corrupt) {
  for (int variant : {0, 1}) {
    FakeServer srv([variant](FakeServer& s) {
      s.ReadPacket();
      s.SendVersion();
      std::string p = s.ReadPacket();
      if (variant == 0) {
        s.SendStatus(FakeServer::IdOf(p) + 1000, kFxOk, "");
      } else {
        s.Send(std::string("\x7f\xff\xff\xff\x67", 5));
      }
      s.ReadPacket();
    });
    auto c = SftpClient::Start(srv.TakeClientChannel());
    BOOST_REQUIRE(c.ok());
    auto r = (*c)->Call(Stat(**c));
    BOOST_TEST(r.status().Is(Code::kCorrupt));
    BOOST_TEST(r.status().message().find(variant == 0 ? "unknown request id" : "exceeds") !=
               std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(window_bounds_requests_in_flight_and_death_fails_them_all) {
  bool saw_more = true;
  FakeServer srv([&](FakeServer& s) {
    s.ReadPacket();
    s.SendVersion();
    std::vector<std::string> got;
    for (int i = 0; i < 4; ++i) got.push_back(s.ReadPacket());
    saw_more = s.MoreWaiting();  // the window is full: nothing more may arrive
    s.SendStatus(FakeServer::IdOf(got[0]), kFxOk, "");
    got.push_back(s.ReadPacket());  // exactly one more after one reply
    s.Hangup();                     // dies with 4 requests pending
  });
  SftpOptions opts;
  opts.max_requests_in_flight = 4;
  auto c = SftpClient::Start(srv.TakeClientChannel(), opts);
  BOOST_REQUIRE(c.ok());
  std::mutex mu;
  int ok = 0, lost = 0;
  // 8 requests from another thread: the 6th blocks until the server dies.
  std::thread submitter([&] {
    for (int i = 0; i < 8; ++i) {
      (*c)->Submit(Stat(**c), [&](Result<SftpReply> r) {
        std::lock_guard<std::mutex> l(mu);
        if (r.ok())
          ++ok;
        else if (r.status().Is(Code::kConnectionLost))
          ++lost;
      });
    }
  });
  submitter.join();
  // Every callback has run once the submitter returned: the dead session fails the
  // blocked and later submissions immediately.
  (*c).reset();
  BOOST_TEST(!saw_more);
  BOOST_TEST(ok == 1);
  BOOST_TEST(lost == 7);
}

BOOST_AUTO_TEST_CASE(a_payload_sent_from_the_callers_buffer_arrives_inside_its_packet) {
  // SubmitWithPayload frames header + payload as one packet, copies the payload before
  // it returns (the buffer is overwritten right after) and counts it in the length.
  std::string write_packet, stat_packet;
  FakeServer srv([&](FakeServer& s) {
    s.ReadPacket();
    s.SendVersion();
    write_packet = s.ReadPacket();
    s.SendStatus(FakeServer::IdOf(write_packet), kFxOk, "");
    stat_packet = s.ReadPacket();
    s.SendStatus(FakeServer::IdOf(stat_packet), kFxOk, "");
  });
  auto c = SftpClient::Start(srv.TakeClientChannel());
  BOOST_REQUIRE(c.ok());
  std::string payload(200000, '\0');
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i * 7 + i / 256);
  const std::string expected = payload;
  auto req = (*c)->NewRequest(kWrite);
  req.packet.String("handle-1").U64(1234567).U32(static_cast<uint32_t>(payload.size()));
  std::promise<Result<SftpReply>> done;
  (*c)->SubmitWithPayload(std::move(req), payload,
                          [&](Result<SftpReply> r) { done.set_value(std::move(r)); });
  std::fill(payload.begin(), payload.end(), 'x');
  BOOST_TEST(SftpClient::ExpectOk(done.get_future().get(), "write").ok());
  // The next request starts right after the payload: the length covered it exactly.
  BOOST_TEST(SftpClient::ExpectOk((*c)->Call(Stat(**c)), "stat").ok());
  c->reset();
  PacketReader r(write_packet);
  BOOST_TEST(r.U8("type").value() == kWrite);
  r.U32("id").value();
  BOOST_TEST(r.String("handle").value() == "handle-1");
  BOOST_TEST(r.U64("offset").value() == 1234567u);
  BOOST_TEST((r.String("data").value() == expected));
  BOOST_TEST(r.ExpectEnd("write").ok());
  BOOST_TEST(!stat_packet.empty());
  BOOST_TEST(static_cast<uint8_t>(stat_packet[0]) == kStat);
}

BOOST_AUTO_TEST_SUITE_END()
