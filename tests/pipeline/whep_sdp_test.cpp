// The SDP handling of the WHEP output (pipeline/src/whep.h): which payload
// type the answer uses, the offer's candidates, and the answer's candidates.
#include <catch2/catch.hpp>

#include "whep.h"

using namespace sabla::pipeline::detail;

namespace {
// Trimmed from a Debian Chromium 156 recvonly offer (video and audio, bundled).
const char* kChromiumOffer =
    "v=0\r\no=- 4296710684062219472 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n"
    "a=extmap-allow-mixed\r\na=msid-semantic: WMS\r\n"
    "m=video 43480 UDP/TLS/RTP/SAVPF 96 97 104 102 103\r\nc=IN IP4 10.99.15.1\r\n"
    "a=candidate:2589131768 1 udp 2113937151 10.99.15.1 43480 typ host generation 0 network-cost 999\r\n"
    "a=ice-ufrag:kP7y\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=ice-options:trickle\r\n"
    "a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\r\n"
    "a=setup:actpass\r\na=mid:0\r\na=recvonly\r\na=rtcp-mux\r\na=rtcp-rsize\r\n"
    "a=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 nack pli\r\na=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\n"
    "a=rtpmap:104 H264/90000\r\na=fmtp:104 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f\r\n"
    "a=rtpmap:102 H264/90000\r\na=rtcp-fb:102 nack pli\r\n"
    "a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f\r\n"
    "a=rtpmap:103 rtx/90000\r\na=fmtp:103 apt=102\r\n"
    "m=audio 52564 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 10.99.15.1\r\n"
    "a=candidate:2589131768 1 udp 2113937151 10.99.15.1 52564 typ host generation 0 network-cost 999\r\n"
    "a=mid:1\r\na=recvonly\r\na=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\n";
}  // namespace

TEST_CASE("the answer uses the offer's H.264 payload type with packetization-mode=1", "[pipeline][whep]") {
  std::string why;
  CHECK(h264_payload_type(kChromiumOffer, &why) == 102);
  CHECK(why.empty());
}

TEST_CASE("offers the monitor cannot serve are refused with a reason", "[pipeline][whep]") {
  std::string why;
  CHECK(h264_payload_type("not sdp at all", &why) == -1);
  CHECK_FALSE(why.empty());

  why.clear();
  std::string vp8_only = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
                         "a=mid:0\r\na=recvonly\r\na=rtpmap:96 VP8/90000\r\n";
  CHECK(h264_payload_type(vp8_only, &why) == -1);
  CHECK(why == "the offer has no receivable H.264 video");

  why.clear();
  std::string mode0 = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 104\r\n"
                      "a=mid:0\r\na=recvonly\r\na=rtpmap:104 H264/90000\r\n"
                      "a=fmtp:104 packetization-mode=0;profile-level-id=42001f\r\n";
  CHECK(h264_payload_type(mode0, &why) == -1);
  CHECK(why == "the offer's H.264 needs packetization-mode=1");

  why.clear();
  std::string audio_only = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
                           "a=mid:0\r\na=recvonly\r\na=rtpmap:111 opus/48000/2\r\n";
  CHECK(h264_payload_type(audio_only, &why) == -1);
  CHECK(why == "the offer has no video");
}

TEST_CASE("the offer's candidates are read per m-line", "[pipeline][whep]") {
  auto c = sdp_candidates(kChromiumOffer);
  REQUIRE(c.size() == 2);
  CHECK(c[0].first == 0);
  CHECK(c[0].second == "candidate:2589131768 1 udp 2113937151 10.99.15.1 43480 typ host generation 0 network-cost 999");
  CHECK(c[1].first == 1);
}

TEST_CASE("the answer carries this side's candidates in its first media section", "[pipeline][whep]") {
  const std::string answer = "v=0\r\no=- 5 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n"
                             "m=video 9 UDP/TLS/RTP/SAVPF 102\r\na=mid:0\r\na=sendonly\r\n"
                             "m=audio 0 UDP/TLS/RTP/SAVPF 0\r\na=mid:1\r\na=inactive\r\n";
  const std::string out = sdp_with_candidates(answer, {"candidate:1 1 UDP 2015363327 10.99.15.2 52526 typ host"});
  CHECK(out == "v=0\r\no=- 5 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n"
               "m=video 9 UDP/TLS/RTP/SAVPF 102\r\na=mid:0\r\na=sendonly\r\n"
               "a=candidate:1 1 UDP 2015363327 10.99.15.2 52526 typ host\r\na=end-of-candidates\r\n"
               "m=audio 0 UDP/TLS/RTP/SAVPF 0\r\na=mid:1\r\na=inactive\r\n");
  // A single-section answer gets them at its end.
  const std::string one = sdp_with_candidates("v=0\r\nm=video 9 X 96\r\na=mid:0\r\n", {"candidate:2 1 UDP 1 1.2.3.4 5 typ host"});
  CHECK(one == "v=0\r\nm=video 9 X 96\r\na=mid:0\r\na=candidate:2 1 UDP 1 1.2.3.4 5 typ host\r\na=end-of-candidates\r\n");
}
