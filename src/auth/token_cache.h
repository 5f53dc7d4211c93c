#pragma once

// A cache of access tokens whose signature and claims were already checked, so that a
// token presented again (forward auth sees the same token on every request of a page)
// costs one keyed hash and one comparison instead of a base64 decode, a JSON parse and a
// signature check. An Ed25519 verification is some 80 µs on a small core; a hit is well
// under one.
//
// What the cache may and may not decide. It only remembers that these exact bytes carried
// a valid signature and these claims; every use still re-checks the time window (nbf/iat
// and exp with the leeway, against the injected clock), and the caller still checks the
// deny list and the session on every request, so a logout or a revoked session takes
// effect at once whether or not the token is cached. The key set of a TokenService never
// changes after construction, so a cached signature cannot outlive its key.
//
// Keyed by a SipHash-2-4 of the token's tail, inside its signature, under a random
// per-process key (a hash an attacker cannot aim collisions at); a hit is confirmed by
// comparing the whole token in constant time.
// Bounded: `capacity` entries over 16 shards; a full shard is emptied and refilled, which
// is cheap, rare, and never wrong (a miss only costs a verification).
//
// Thread safety: every method may be called from any thread.

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace gatehouse::auth {

// The claims a verified access token carries into a request.
struct AccessClaims {
  std::string sub;
  std::string sid;
  std::string jti;
  std::vector<std::string> amr;
  std::int64_t exp = 0;  // Unix seconds.
  // The token is acceptable for now in [valid_from, valid_until) (Unix seconds): the
  // verifier's own nbf/iat/exp rules with the leeway folded in.
  std::int64_t valid_from = 0;
  std::int64_t valid_until = 0;
};

class VerifiedTokenCache {
 public:
  static constexpr std::size_t kShards = 16;

  // capacity 0 turns the cache off (every lookup misses, nothing is stored).
  explicit VerifiedTokenCache(std::size_t capacity);

  // The claims of `token` when it is cached and acceptable at `now`, else nullptr.
  std::shared_ptr<const AccessClaims> Find(std::string_view token, std::int64_t now) const;

  // Remembers a token that was just verified. Tokens longer than kMaxTokenBytes are not
  // kept (the verifier refuses them anyway).
  void Insert(std::string_view token, std::shared_ptr<const AccessClaims> claims);

  std::size_t size() const;

  static constexpr std::size_t kMaxTokenBytes = 8192;
  // How much of the token's end is hashed to find its entry (see Hash in token_cache.cc):
  // less than the shortest signature segment issued (HS256, 43 characters), so all of it
  // is signature.
  static constexpr std::size_t kHashedTailBytes = 32;

 private:
  struct Entry {
    std::string token;
    std::shared_ptr<const AccessClaims> claims;
  };
  // Already a keyed hash: the map uses it as it is.
  struct DigestHash {
    std::size_t operator()(std::uint64_t d) const { return static_cast<std::size_t>(d); }
  };
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<std::uint64_t, Entry, DigestHash> entries;
  };

  std::uint64_t Hash(std::string_view token) const;
  // The top bits pick the shard; the map's buckets use the low ones.
  static std::size_t ShardOf(std::uint64_t d) { return static_cast<std::size_t>(d >> 60); }

  std::size_t per_shard_;
  std::array<unsigned char, 16> key_{};
  std::array<Shard, kShards> shards_;
};

}  // namespace gatehouse::auth
