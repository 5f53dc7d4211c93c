// TLS policy as seen by `openssl s_client`: TLS 1.2 and 1.3 only, forward-secret suites.
//
// The server gets an RSA certificate here: with an ECDSA certificate, RSA key-exchange
// suites could never be negotiated whatever the server allowed, and the RSA-kx test would
// prove nothing.
//
// The client is told "@SECLEVEL=0" where it tests a refusal: Debian's default client
// policy already refuses TLS 1.1, so without it a refusal would come from the client and
// the test would pass against a server that accepts TLS 1.1.

#include <string>
#include <vector>

#include "harness.h"

namespace gatehouse::itest {
namespace {

class Tls : public SharedServerTest<Tls> {
 public:
  static std::unique_ptr<Deployment> MakeDeployment() {
    return std::make_unique<Deployment>(Deployment::Profile::kDevelopment,
                                        Deployment::KeyType::kRsa);
  }

 protected:
  CommandResult SClient(const std::vector<std::string>& extra) {
    std::vector<std::string> argv = {"openssl",     "s_client",
                                     "-connect",    "127.0.0.1:" + std::to_string(port()),
                                     "-servername", "localhost"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return RunCommand(argv, Millis(10000));
  }
};

// A handshake completed when s_client exits 0 and names a real cipher.
bool HandshakeCompleted(const CommandResult& run) {
  return run.exit_code == 0 && run.out.find("Cipher is ") != std::string::npos &&
         run.out.find("Cipher is (NONE)") == std::string::npos;
}

// True if the server said no: the client got as far as offering the handshake and was
// answered with an alert or a hang-up, rather than refusing locally before sending anything
// (which would prove nothing about the server).
bool ServerRefused(const CommandResult& run) {
  std::string all = run.out + run.err;
  bool client_side = ContainsNoCase(all, "no protocols available") ||
                     ContainsNoCase(all, "no ciphers available") ||
                     ContainsNoCase(all, "no cipher match") ||
                     ContainsNoCase(all, "legacy sigalg") || ContainsNoCase(all, "connect:errno");
  return !HandshakeCompleted(run) && !client_side && !run.timed_out;
}

std::string Describe(const CommandResult& run) {
  return "exit " + std::to_string(run.exit_code) + (run.timed_out ? " (timed out)" : "") +
         "\nstdout:\n" + Tail(run.out, 1500) + "\nstderr:\n" + Tail(run.err, 800);
}

TEST_F(Tls, RefusesTls11) {
  CommandResult run = SClient({"-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"});

  ASSERT_TRUE(run.started);
  EXPECT_TRUE(ServerRefused(run)) << Describe(run);
}

TEST_F(Tls, AcceptsTls12WithForwardSecrecy) {
  CommandResult run = SClient({"-tls1_2"});

  ASSERT_TRUE(HandshakeCompleted(run)) << Describe(run);
  EXPECT_NE(run.out.find("Protocol  : TLSv1.2"), std::string::npos) << Describe(run);
  // The suite the server prefers must use an ephemeral (EC)DHE key exchange.
  EXPECT_NE(run.out.find("Cipher is ECDHE-"), std::string::npos) << Describe(run);
}

TEST_F(Tls, AcceptsTls13) {
  CommandResult run = SClient({"-tls1_3"});

  ASSERT_TRUE(HandshakeCompleted(run)) << Describe(run);
  EXPECT_NE(run.out.find("New, TLSv1.3"), std::string::npos) << Describe(run);
}

TEST_F(Tls, RefusesRsaKeyExchange) {
  // Static RSA key exchange has no forward secrecy: one stolen key decrypts every
  // recorded session. Both a CBC and an AEAD variant must be refused.
  for (const char* suite : {"AES128-SHA", "AES256-GCM-SHA384"}) {
    SCOPED_TRACE(suite);
    CommandResult run = SClient({"-tls1_2", "-cipher", std::string(suite) + ":@SECLEVEL=0"});

    ASSERT_TRUE(run.started);
    EXPECT_TRUE(ServerRefused(run)) << Describe(run);
  }
}

TEST_F(Tls, ClientSeesConfiguredCertificate) {
  std::string error;
  auto conn = Connection::Open(Connection::Kind::kTls, port(), Millis(5000), &error);

  ASSERT_NE(conn, nullptr) << error;
  EXPECT_NE(conn->PeerSubject().find("CN=localhost"), std::string::npos) << conn->PeerSubject();
}

}  // namespace
}  // namespace gatehouse::itest
