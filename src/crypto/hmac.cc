#include "crypto/hmac.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <array>

#include "crypto/bytes.h"
#include "crypto/constant_time.h"
#include "crypto/fatal.h"

namespace gatehouse::crypto {

namespace internal {
// A context keyed once; threads copy it and never write to it.
struct PreparedHmac {
  EVP_MAC_CTX* ctx = nullptr;
  ~PreparedHmac() { EVP_MAC_CTX_free(ctx); }  // Frees and wipes the key state.
};
}  // namespace internal

namespace {

// EVP_MAC objects are reference counted and safe to share between threads.
EVP_MAC* HmacAlgorithm() {
  static EVP_MAC* const mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (mac == nullptr) FatalCryptoFailure("HMAC fetch");
  return mac;
}

// Creates a context keyed with `key`, digest SHA-256.
EVP_MAC_CTX* NewKeyedContext(std::span<const std::uint8_t> key) {
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(HmacAlgorithm());
  if (ctx == nullptr) FatalCryptoFailure("HMAC context");
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end(),
  };
  // EVP_MAC_init treats a null key as "keep the previous key"; an empty key
  // must still be a real (zero-length) key, so pass a valid pointer.
  static const std::uint8_t kNoKey = 0;
  const std::uint8_t* key_data = key.empty() ? &kNoKey : key.data();
  if (EVP_MAC_init(ctx, key_data, key.size(), params) != 1) FatalCryptoFailure("HMAC init");
  return ctx;
}

Sha256Digest Finish(EVP_MAC_CTX* ctx, std::span<const std::uint8_t> data) {
  Sha256Digest out;
  std::size_t length = 0;
  if (EVP_MAC_update(ctx, data.data(), data.size()) != 1 ||
      EVP_MAC_final(ctx, out.data(), &length, out.size()) != 1 || length != out.size()) {
    FatalCryptoFailure("HMAC");
  }
  return out;
}

// One context per thread for HmacSha256(): re-keyed on each call.
struct ThreadContext {
  EVP_MAC_CTX* ctx = nullptr;
  ~ThreadContext() { EVP_MAC_CTX_free(ctx); }
};

// Per-thread copies of prepared contexts for HmacSha256Keyed. The weak
// pointer identifies the owner without keeping it alive; an expired owner
// means its key is gone and the copy must be wiped.
class KeyedCache {
 public:
  ~KeyedCache() {
    for (Slot& slot : slots_) EVP_MAC_CTX_free(slot.ctx);
  }

  EVP_MAC_CTX* Get(const std::shared_ptr<const internal::PreparedHmac>& prepared) {
    Slot* free_slot = nullptr;
    Slot* hit = nullptr;
    for (Slot& slot : slots_) {
      if (slot.ctx != nullptr && slot.owner.expired()) Release(slot);
      if (slot.ctx == nullptr) {
        if (free_slot == nullptr) free_slot = &slot;
        continue;
      }
      // owner_before compares control blocks, so a dead owner never matches a
      // new object that happens to reuse its address.
      if (!slot.owner.owner_before(prepared) && !prepared.owner_before(slot.owner)) hit = &slot;
    }
    if (hit != nullptr) {
      // Re-initialising with a null key restarts HMAC with the key already
      // scheduled (the HMAC provider reuses it), which is the whole point.
      if (EVP_MAC_init(hit->ctx, nullptr, 0, nullptr) != 1) FatalCryptoFailure("HMAC reinit");
      return hit->ctx;
    }

    Slot& slot = free_slot != nullptr ? *free_slot : slots_[next_victim_++ % slots_.size()];
    Release(slot);
    slot.ctx = EVP_MAC_CTX_dup(prepared->ctx);
    if (slot.ctx == nullptr) FatalCryptoFailure("HMAC dup");
    slot.owner = prepared;
    return slot.ctx;
  }

 private:
  struct Slot {
    std::weak_ptr<const internal::PreparedHmac> owner;
    EVP_MAC_CTX* ctx = nullptr;
  };

  static void Release(Slot& slot) {
    EVP_MAC_CTX_free(slot.ctx);
    slot.ctx = nullptr;
    slot.owner.reset();
  }

  std::array<Slot, 8> slots_;
  std::size_t next_victim_ = 0;
};

}  // namespace

Sha256Digest HmacSha256(std::span<const std::uint8_t> key, std::span<const std::uint8_t> data) {
  thread_local ThreadContext thread_context;
  if (thread_context.ctx == nullptr) {
    thread_context.ctx = NewKeyedContext(key);
  } else {
    // The digest parameter stays set from the first call; only re-key.
    static const std::uint8_t kNoKey = 0;
    const std::uint8_t* key_data = key.empty() ? &kNoKey : key.data();
    if (EVP_MAC_init(thread_context.ctx, key_data, key.size(), nullptr) != 1) {
      FatalCryptoFailure("HMAC init");
    }
  }
  return Finish(thread_context.ctx, data);
}

Sha256Digest HmacSha256(std::span<const std::uint8_t> key, std::string_view data) {
  return HmacSha256(key, AsBytes(data));
}

HmacSha256Keyed::HmacSha256Keyed(std::span<const std::uint8_t> key) {
  auto prepared = std::make_shared<internal::PreparedHmac>();
  prepared->ctx = NewKeyedContext(key);
  prepared_ = std::move(prepared);
}

HmacSha256Keyed::~HmacSha256Keyed() = default;
HmacSha256Keyed::HmacSha256Keyed(HmacSha256Keyed&&) noexcept = default;
HmacSha256Keyed& HmacSha256Keyed::operator=(HmacSha256Keyed&&) noexcept = default;

Sha256Digest HmacSha256Keyed::Compute(std::span<const std::uint8_t> data) const {
  thread_local KeyedCache cache;
  return Finish(cache.Get(prepared_), data);
}

Sha256Digest HmacSha256Keyed::Compute(std::string_view data) const {
  return Compute(AsBytes(data));
}

bool HmacSha256Keyed::Verify(std::span<const std::uint8_t> data,
                             std::span<const std::uint8_t> mac) const {
  const Sha256Digest expected = Compute(data);
  return ConstantTimeEquals(expected, mac);
}

bool HmacSha256Keyed::Verify(std::string_view data, std::span<const std::uint8_t> mac) const {
  return Verify(AsBytes(data), mac);
}

}  // namespace gatehouse::crypto
