#pragma once

// One sign-in at a provider, from /start to /callback (OpenID Connect Core 1.0 section 3.1,
// RFC 6749 section 10.12, RFC 7636, RFC 9700 section 2.1).
//
// Begin() makes four random values and keeps a record of them in the shared state for
// flow_ttl:
//   state     256 bits; travels through the provider and back in the callback URL;
//   binding   256 bits; the value of a short-lived pre-auth cookie set on the browser
//             that started the sign-in. The record holds only its SHA-256. A callback
//             from another browser (an attacker who started a sign-in and sends the
//             victim the callback link, "login CSRF") lacks the cookie and is refused;
//   verifier  the PKCE code verifier; the provider receives only its S256 challenge, so a
//             stolen authorization code cannot be redeemed without it;
//   nonce     bound into the ID token by the provider, checked on the way back.
// The record is stored under the SHA-256 of the state, never the state itself, and sealed
// with AES-256-GCM under a key-ring key with the storage key as associated data: whoever
// can read the shared state (a Redis operator) learns neither the verifier nor the nonce.
//
// Take() removes the record in the same step as it reads it (StateStore::Take), so a
// state is good for one callback, whatever the outcome; then it checks the binding in
// constant time and the provider the callback came for.
//
// Thread safety: all methods may be called from any worker thread at once. They block on
// the shared state: run them on the worker pool.

#include <chrono>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/secret.h"
#include "core/status.h"
#include "crypto/keyring.h"
#include "state/state.h"

namespace gatehouse::auth {

inline constexpr std::string_view kPreAuthCookie = "__Host-gh_oidc";

// The S256 code challenge of a verifier (RFC 7636 section 4.2).
std::string PkceChallenge(std::string_view verifier);

struct FlowStart {
  std::string provider;
  std::string return_to;     // Checked by the caller (ReturnToPolicy).
  std::string link_account;  // Set when a signed-in user links this provider.
};

struct StartedFlow {
  std::string state;
  Secret binding;  // Value of the pre-auth cookie.
  std::string code_challenge;
  std::string nonce;
};

struct FlowRecord {
  std::string provider;
  std::string return_to;
  std::string link_account;
  Secret verifier;
  Secret nonce;
};

class FlowStore {
 public:
  // `state`, `keys` and `clock` must outlive the store.
  FlowStore(state::StateStore& state, const crypto::KeyRing& keys, std::chrono::seconds ttl)
      : state_(state), keys_(keys), ttl_(ttl) {}

  Result<StartedFlow> Begin(const FlowStart& start);

  // Errors, all kPermissionDenied with a detail for the log: "state unknown" (never issued,
  // already used or expired), "pre-auth cookie missing", "pre-auth cookie mismatch",
  // "provider mismatch" (a state from one provider's flow at another's callback). The
  // shared state's own errors pass through (kUnavailable).
  Result<FlowRecord> Take(std::string_view provider, std::string_view state,
                          std::string_view cookie);

  std::chrono::seconds ttl() const { return ttl_; }

 private:
  state::StateStore& state_;
  const crypto::KeyRing& keys_;
  std::chrono::seconds ttl_;
};

// Which return_to values a sign-in may end at: a path on this service ("/app?x=1"), or an
// absolute https URL whose origin is this service's or one configured. Anything else
// (other origins, "//evil.example", "/\evil", schemes like javascript:, control
// characters) is refused: an open redirect after a sign-in is a phishing tool.
class ReturnToPolicy {
 public:
  // `origins`: comma-separated "https://host[:port]" list; `own_origin` always allowed.
  ReturnToPolicy(std::string_view own_origin, std::string_view origins);

  // kInvalidArgument "return_to not allowed" when refused.
  Status Check(std::string_view return_to) const;

 private:
  std::vector<std::string> origins_;
};

}  // namespace gatehouse::auth
