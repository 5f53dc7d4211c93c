#pragma once

// The key ring: a versioned master key, read from a secret file, from which
// every purpose gets its own key.
//
// File format (one entry a line):
//   # comment lines and blank lines are ignored
//   v1:<standard base64 of exactly 32 random bytes>
//   v2:<...>
// Versions are positive decimal numbers without leading zeros, each used once;
// the highest is current. Surrounding spaces, tabs and a trailing CR are
// ignored. Rotation adds a line with a higher version; older lines stay until
// every value written under them has been re-encrypted.
//
// Key derivation: HKDF-SHA256 (RFC 5869) with the master key of a version as
// input keying material, salt "gatehouse keyring v1", and info the purpose.
// DeriveKey(purpose) uses the purpose as given; Encrypt/Decrypt and BlindIndex
// prefix it with "aes-256-gcm/" and "blind-index/" respectively, so the AEAD
// key, the blind-index key and any raw derived key of one purpose are always
// different keys ('/' is not allowed in purposes, so no purpose can collide
// with a prefixed one).
//
// Purposes: 1 to 64 characters from [A-Za-z0-9:._-], e.g. "field:email".
//
// Thread safety: after Parse, all const methods may be called concurrently.
// Derived keys are cached per (derivation info, version) in a map guarded by a
// std::shared_mutex: lookups take it shared, the first derivation of a key
// takes it exclusively. The cache holds at most 1024 keys; past that, keys are
// derived on each call instead of cached. Key material lives only in Secret
// objects and is wiped when the ring dies.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/secret.h"
#include "core/status.h"

namespace gatehouse::crypto {

class KeyRing {
 public:
  // Parses the content of a master key file.
  // Errors: kInvalidArgument with message "invalid master key file" and a
  // detail naming the line number and the problem; key bytes and line text are
  // never echoed.
  static Result<KeyRing> Parse(const Secret& text);

  KeyRing(KeyRing&&) noexcept;
  KeyRing& operator=(KeyRing&&) noexcept;
  ~KeyRing();

  // The highest version; new data is encrypted under it.
  std::uint32_t current_version() const { return current_version_; }
  // All versions present, ascending.
  std::vector<std::uint32_t> versions() const;

  // A 32-byte key for `purpose` under master key `version`.
  // Errors: kInvalidArgument for a malformed purpose; kNotFound when the
  // version is not in the ring; kInternal if derivation fails.
  Result<Secret> DeriveKey(std::string_view purpose, std::uint32_t version) const;

  // Encrypts with the purpose's key under the current version and returns the
  // envelope's text form (envelope.h). `aad` binds the value to its context,
  // e.g. the table, row id and column, so it cannot be moved to another row.
  Result<std::string> Encrypt(std::string_view purpose, std::string_view plaintext,
                              std::string_view aad) const;

  // Decrypts an Encrypt() result under the version its envelope names, so
  // values written before a rotation keep opening.
  // Errors: kDataLoss (generic message) for damaged or tampered text or a
  // wrong purpose or aad; kNotFound when the named version is not in the ring.
  Result<Secret> Decrypt(std::string_view purpose, std::string_view text,
                         std::string_view aad) const;

  // The key version an Encrypt() result names (unauthenticated until
  // decrypted); re-encryption jobs use it to find values under old versions.
  // Errors: kDataLoss for a damaged text.
  static Result<std::uint32_t> VersionOf(std::string_view text);

  // A deterministic keyed index of `value` for equality lookups on encrypted
  // columns: base64url (43 characters) of HMAC-SHA256 under the purpose's
  // blind-index key. Normalise `value` first (e.g. lowercase an email). The
  // index depends on the key version: the one-argument form uses the current
  // version; after a rotation, look up with both the current and the previous
  // version until the re-encryption job has rewritten the index column.
  // Errors: kInvalidArgument for a malformed purpose; kNotFound for an absent
  // version.
  Result<std::string> BlindIndex(std::string_view purpose, std::string_view value) const;
  Result<std::string> BlindIndex(std::string_view purpose, std::string_view value,
                                 std::uint32_t version) const;

 private:
  struct DerivedKeyCache;

  KeyRing(std::map<std::uint32_t, Secret> master_keys);
  Result<Secret> Derive(std::string_view info, std::uint32_t version) const;

  std::map<std::uint32_t, Secret> master_keys_;
  std::uint32_t current_version_ = 0;
  std::unique_ptr<DerivedKeyCache> cache_;
};

// The text of a new master key file holding one fresh random `v1:` key, with
// a comment header. It is key material: write it to a file of mode 0600.
Secret GenerateMasterKeyFile();

// `text` (a valid master key file) with one more line appended: a fresh random
// key whose version is one above the current highest. Comments and existing
// lines are kept as they are.
// Errors: those of KeyRing::Parse; kFailedPrecondition when the highest
// version is already the largest representable.
Result<Secret> AddMasterKeyVersion(const Secret& text);

}  // namespace gatehouse::crypto
