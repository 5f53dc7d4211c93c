// The outbound client against a real TLS server (a `gatehouse serve` with its self-signed
// certificate): verification is on (the system store does not trust the certificate), a CA
// file makes it trusted, and public-key pinning accepts the right key and refuses another.

#include <string>

#include "harness.h"
#include "http/outbound_client.h"

namespace gatehouse::itest {
namespace {

using namespace std::chrono_literals;

class OutboundTls : public SharedServerTest<OutboundTls> {
 public:
  static std::unique_ptr<Deployment> MakeDeployment() { return StandardDeployment(); }

 protected:
  static std::string CertFile() { return (server().deployment->dir() / "tls/cert.pem").string(); }

  // "sha256//<base64 of SHA-256 of the certificate's SubjectPublicKeyInfo>", by openssl.
  static std::string PinOfCertificate() {
    CommandResult pin =
        RunCommand({"sh", "-c",
                    "openssl x509 -in \"$0\" -pubkey -noout | openssl pkey -pubin -outform der | "
                    "openssl dgst -sha256 -binary | openssl base64 -A",
                    CertFile()},
                   Millis(10000));
    EXPECT_EQ(pin.exit_code, 0) << pin.err;
    return "sha256//" + pin.out;
  }

  static Result<http::OutboundResponse> Get(http::OutboundOptions options) {
    auto client = http::OutboundClient::Create(std::move(options));
    if (!client.ok()) return std::move(client).error();
    http::OutboundRequest request;
    request.method = "GET";
    request.url = "https://localhost:" + std::to_string(port()) + "/healthz";
    return (*client)->Send(request);
  }
};

TEST_F(OutboundTls, VerificationIsOnByDefault) {
  http::OutboundOptions options;
  auto response = Get(options);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.error().code(), ErrorCode::kUnavailable);
}

TEST_F(OutboundTls, ACaFileMakesTheServerTrusted) {
  http::OutboundOptions options;
  options.ca_file = CertFile();
  auto response = Get(options);
  ASSERT_TRUE(response.ok()) << response.error().detail();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, R"({"status":"ok"})");
}

TEST_F(OutboundTls, TheRightPinIsAcceptedAndAnotherRefused) {
  http::OutboundOptions options;
  options.ca_file = CertFile();
  const std::string right = PinOfCertificate();
  ASSERT_EQ(right.size(), 8u + 44u) << right;
  const std::string other = "sha256//" + std::string(43, 'A') + "=";

  options.pinned_public_keys = other + ";" + right;
  auto pinned = Get(options);
  ASSERT_TRUE(pinned.ok()) << pinned.error().detail();
  EXPECT_EQ(pinned->status, 200);

  options.pinned_public_keys = other;
  auto refused = Get(options);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(refused.error().detail().find("pinned"), std::string::npos) << refused.error().detail();
}

}  // namespace
}  // namespace gatehouse::itest
