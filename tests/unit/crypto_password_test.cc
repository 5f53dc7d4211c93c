#include "crypto/password.h"

#include <gtest/gtest.h>

#include <string>

namespace gatehouse::crypto {
namespace {

// Cheap parameters inside the accepted bounds, so the tests stay fast.
constexpr Argon2Params kFast{.memory_kib = 8192, .iterations = 1, .parallelism = 1};

// Reference hashes made by a different implementation: the argon2 reference
// command-line tool (Debian package argon2, 0~20171227), e.g.
//   echo -n password | argon2 somesalt -id -t 2 -m 10 -p 1 -e
constexpr std::string_view kReferenceM1024P1 =
    "$argon2id$v=19$m=1024,t=2,p=1$c29tZXNhbHQ$7FfsnA6vUe7qLpL/3Kqc3uR48ZJyFbUVt7jWZlf0Htk";
//   echo -n password | argon2 somesalt -id -t 2 -m 10 -p 4 -e
constexpr std::string_view kReferenceM1024P4 =
    "$argon2id$v=19$m=1024,t=2,p=4$c29tZXNhbHQ$812J6Ir9aX4PVtwMQsWwAkclP17LHYWPdn5+1mXzfEQ";
//   echo -n password | argon2 somesalt -id -t 2 -k 19456 -p 1 -e
constexpr std::string_view kReferenceDefaults =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$PL01amPyeUuxG7H0vIr5X+qHkZvWnHmGBGXFYvh8z2E";

TEST(Password, VerifiesReferenceImplementationHashes) {
  for (std::string_view encoded : {kReferenceM1024P1, kReferenceM1024P4, kReferenceDefaults}) {
    auto ok = VerifyPassword("password", encoded);
    ASSERT_TRUE(ok.ok()) << encoded;
    EXPECT_TRUE(*ok) << encoded;
    auto wrong = VerifyPassword("Password", encoded);
    ASSERT_TRUE(wrong.ok()) << encoded;
    EXPECT_FALSE(*wrong) << encoded;
  }
}

TEST(Password, HashesInPhcFormAndVerifies) {
  auto encoded = HashPassword("correct horse battery staple", kFast);
  ASSERT_TRUE(encoded.ok());
  EXPECT_EQ(encoded->rfind("$argon2id$v=19$m=8192,t=1,p=1$", 0), 0u) << *encoded;
  EXPECT_TRUE(*VerifyPassword("correct horse battery staple", *encoded));
  EXPECT_FALSE(*VerifyPassword("correct horse battery stapl", *encoded));
  EXPECT_FALSE(*VerifyPassword("", *encoded));
}

TEST(Password, DefaultParametersAreOwaspArgon2id) {
  auto encoded = HashPassword("hunter2hunter2");
  ASSERT_TRUE(encoded.ok());
  EXPECT_EQ(encoded->rfind("$argon2id$v=19$m=19456,t=2,p=1$", 0), 0u) << *encoded;
  EXPECT_TRUE(*VerifyPassword("hunter2hunter2", *encoded));
  EXPECT_FALSE(NeedsRehash(*encoded, Argon2Params{}));
}

TEST(Password, SaltsAreRandom) {
  auto a = HashPassword("same password", kFast);
  auto b = HashPassword("same password", kFast);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);
}

TEST(Password, EmbeddedNulIsPartOfThePassword) {
  auto encoded = HashPassword(std::string_view("pass\0word", 9), kFast);
  ASSERT_TRUE(encoded.ok());
  EXPECT_TRUE(*VerifyPassword(std::string_view("pass\0word", 9), *encoded));
  EXPECT_FALSE(*VerifyPassword("pass", *encoded));
}

TEST(Password, MalformedHashesAreErrorsNotFalse) {
  const std::string kMalformed[] = {
      "",
      "password",
      "argon2id$v=19$m=1024,t=2,p=1$c29tZXNhbHQ$7FfsnA6vUe7qLpL/3Kqc3uR48ZJyFbUVt7jWZlf0Htk",
      "$argon2i$v=19$m=1024,t=2,p=1$c29tZXNhbHQ$7FfsnA6vUe7qLpL/3Kqc3uR48ZJyFbUVt7jWZlf0Htk",
      "$argon2id$v=16$m=1024,t=2,p=1$c29tZXNhbHQ$7FfsnA6vUe7qLpL/3Kqc3uR48ZJyFbUVt7jWZlf0Htk",
      "$argon2id$m=1024,t=2,p=1$c29tZXNhbHQ$7FfsnA6vUe7qLpL/3Kqc3uR48ZJyFbUVt7jWZlf0Htk",
      "$argon2id$v=19$m=01024,t=2,p=1$c29tZXNhbHQ$7FfsnA6vUe7qLpL/3Kqc3uR48ZJyFbUVt7jWZlf0Htk",
      "$argon2id$v=19$t=2,m=1024,p=1$c29tZXNhbHQ$7FfsnA6vUe7qLpL/3Kqc3uR48ZJyFbUVt7jWZlf0Htk",
      "$argon2id$v=19$m=1024,t=2$c29tZXNhbHQ$7FfsnA6vUe7qLpL/3Kqc3uR48ZJyFbUVt7jWZlf0Htk",
      "$argon2id$v=19$m=1024,t=2,p=1,x=1$c29tZXNhbHQ$7FfsnA6vUe7qLpL/3Kqc3uR48ZJyFbUVt7jWZlf0Htk",
      "$argon2id$v=19$m=1024,t=2,p=1$c29tZXNhbHQ",
      "$argon2id$v=19$m=1024,t=2,p=1$c29tZXNhbHQ$7FfsnA6vUe7qLpL/3Kqc3uR48ZJyFbUVt7jWZlf0Htk$",
      "$argon2id$v=19$m=1024,t=2,p=1$c29tZXNhbHQ$7FfsnA6vUe7qLpL/3Kqc3uR48ZJyFbUVt7jWZlf0Ht!",
      "$argon2id$v=19$m=1024,t=2,p=1$c29tZXNhbHQ=$7FfsnA6vUe7qLpL/3Kqc3uR48ZJyFbUVt7jWZlf0Htk",
      "$argon2id$v=19$m=1024,t=2,p=1$$7FfsnA6vUe7qLpL/3Kqc3uR48ZJyFbUVt7jWZlf0Htk",
      // Memory above the 1 GiB verification cap: refused before allocating.
      "$argon2id$v=19$m=4194304,t=2,p=1$c29tZXNhbHQ$7FfsnA6vUe7qLpL/3Kqc3uR48ZJyFbUVt7jWZlf0Htk",
      "$argon2id$v=19$m=1024,t=0,p=1$c29tZXNhbHQ$7FfsnA6vUe7qLpL/3Kqc3uR48ZJyFbUVt7jWZlf0Htk",
      "$argon2id$v=19$m=1024,t=2,p=0$c29tZXNhbHQ$7FfsnA6vUe7qLpL/3Kqc3uR48ZJyFbUVt7jWZlf0Htk",
      "$argon2id$v=19$m=99999999999,t=2,p=1$c29tZXNhbHQ$7FfsnA6vUe7qLpL/"
      "3Kqc3uR48ZJyFbUVt7jWZlf0Htk",
  };
  for (const std::string& encoded : kMalformed) {
    auto result = VerifyPassword("password", encoded);
    ASSERT_FALSE(result.ok()) << encoded;
    EXPECT_EQ(result.error().code(), ErrorCode::kInvalidArgument) << encoded;
    EXPECT_EQ(result.error().message(), "malformed password hash");
  }
}

TEST(Password, ParameterBoundsAreEnforced) {
  EXPECT_TRUE(ValidateArgon2Params(Argon2Params{}).ok());
  EXPECT_TRUE(ValidateArgon2Params({kArgon2MinMemoryKib, 1, 1}).ok());
  EXPECT_TRUE(ValidateArgon2Params({kArgon2MaxMemoryKib, kArgon2MaxIterations, 1}).ok());

  const Argon2Params kBad[] = {
      {kArgon2MinMemoryKib - 1, 2, 1},
      {kArgon2MaxMemoryKib + 1, 2, 1},
      {19456, 0, 1},
      {19456, kArgon2MaxIterations + 1, 1},
      {19456, 2, 0},
      {19456, 2, 2},
  };
  for (const Argon2Params& p : kBad) {
    auto status = ValidateArgon2Params(p);
    ASSERT_FALSE(status.ok()) << p.memory_kib << "," << p.iterations << "," << p.parallelism;
    EXPECT_EQ(status.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_FALSE(HashPassword("password", p).ok());
  }
  auto lanes = ValidateArgon2Params({19456, 2, 4});
  EXPECT_NE(lanes.error().detail().find("libsodium"), std::string::npos);
}

TEST(Password, OverLongPasswordsAreRefused) {
  const std::string longest(kMaxPasswordBytes, 'x');
  auto encoded = HashPassword(longest, kFast);
  ASSERT_TRUE(encoded.ok());
  EXPECT_TRUE(*VerifyPassword(longest, *encoded));

  const std::string too_long(kMaxPasswordBytes + 1, 'x');
  EXPECT_EQ(HashPassword(too_long, kFast).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(VerifyPassword(too_long, *encoded).error().code(), ErrorCode::kInvalidArgument);
}

TEST(Password, NeedsRehashWhenParametersDiffer) {
  auto encoded = HashPassword("password", kFast);
  ASSERT_TRUE(encoded.ok());
  EXPECT_FALSE(NeedsRehash(*encoded, kFast));
  EXPECT_TRUE(NeedsRehash(*encoded, Argon2Params{}));                          // weaker
  EXPECT_TRUE(NeedsRehash(*encoded, {.memory_kib = 8192, .iterations = 2}));   // more passes
  EXPECT_TRUE(NeedsRehash(*encoded, {.memory_kib = 16384, .iterations = 1}));  // more memory
  EXPECT_TRUE(NeedsRehash(*encoded, {.memory_kib = 8192, .iterations = 1, .parallelism = 2}));

  // Stronger than wanted also counts: parameters are a policy, not a floor.
  auto strong = HashPassword("password", {.memory_kib = 16384, .iterations = 1});
  ASSERT_TRUE(strong.ok());
  EXPECT_TRUE(NeedsRehash(*strong, kFast));
}

TEST(Password, NeedsRehashForForeignOrMalformedHashes) {
  // Same cost parameters, but an 8-byte salt: shorter than ours.
  EXPECT_TRUE(NeedsRehash(kReferenceDefaults, Argon2Params{}));
  EXPECT_TRUE(NeedsRehash("not a hash", Argon2Params{}));
  EXPECT_TRUE(NeedsRehash("", Argon2Params{}));
}

}  // namespace
}  // namespace gatehouse::crypto
