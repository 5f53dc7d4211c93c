#include "auth/api_key_service.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <numeric>

#include "audit/events.h"
#include "core/clock.h"
#include "crypto/keyring.h"
#include "protect/rate_limit_memory.h"
#include "state/state.h"
#include "store/migrations.h"
#include "store/store.h"

namespace gatehouse::auth {
namespace {

using audit::EventType;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

constexpr auto kDay = hours(24);

// A store that counts what reaches it and can be made to fail: the proof that the
// request path leaves the database alone, and the fault injection for flushes.
class CountingStore final : public store::Store {
 public:
  explicit CountingStore(store::Store& inner) : inner_(inner) {}

  Result<store::Rows> Query(std::string_view sql, const store::Params& params) override {
    ++calls;
    if (failing) return Unavailable("database down", "injected");
    return inner_.Query(sql, params);
  }
  Result<std::int64_t> Execute(std::string_view sql, const store::Params& params) override {
    ++calls;
    if (failing) return Unavailable("database down", "injected");
    return inner_.Execute(sql, params);
  }
  Status InTransaction(const std::function<Status(store::Transaction&)>& body) override {
    ++calls;
    if (failing) return Unavailable("database down", "injected");
    return inner_.InTransaction(body);
  }
  Status Ping() override { return inner_.Ping(); }
  std::string_view backend_name() const override { return inner_.backend_name(); }

  std::atomic<int> calls{0};
  std::atomic<bool> failing{false};

 private:
  store::Store& inner_;
};

// A state store whose every call can be made to fail, as an unreachable Redis does.
class FlakyState final : public state::StateStore {
 public:
  explicit FlakyState(state::StateStore& inner) : inner_(inner) {}
  Result<std::optional<std::string>> Get(std::string_view key) override {
    if (failing) return Unavailable("state down");
    return inner_.Get(key);
  }
  Status Set(std::string_view key, std::string_view value, std::chrono::milliseconds ttl) override {
    if (failing) return Unavailable("state down");
    return inner_.Set(key, value, ttl);
  }
  Result<bool> SetIfAbsent(std::string_view key, std::string_view value,
                           std::chrono::milliseconds ttl) override {
    return inner_.SetIfAbsent(key, value, ttl);
  }
  Result<bool> Delete(std::string_view key) override { return inner_.Delete(key); }
  Result<std::optional<std::string>> Take(std::string_view key) override {
    return inner_.Take(key);
  }
  Result<std::int64_t> Increment(std::string_view key, std::int64_t delta,
                                 std::chrono::milliseconds ttl) override {
    return inner_.Increment(key, delta, ttl);
  }
  Result<bool> Expire(std::string_view key, std::chrono::milliseconds ttl) override {
    return inner_.Expire(key, ttl);
  }
  Result<bool> Exists(std::string_view key) override { return inner_.Exists(key); }
  Result<std::optional<std::chrono::milliseconds>> Ttl(std::string_view key) override {
    return inner_.Ttl(key);
  }
  void GetAsync(std::string_view key, GetCallback done) override { inner_.GetAsync(key, done); }
  void ExistsAsync(std::string_view key, ExistsCallback done) override {
    inner_.ExistsAsync(key, done);
  }
  std::string_view driver_name() const override { return inner_.driver_name(); }

  std::atomic<bool> failing{false};

 private:
  state::StateStore& inner_;
};

// Two instances of the service over one SQLite store and one state, with a manual clock:
// what one changes the other must honour.
class ApiKeyServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/gatehouse-apikeys-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    store::StoreOptions options;
    options.driver = "sqlite";
    options.sqlite_path = dir_ + "/gatehouse.db";
    options.sqlite_synchronous_full = false;
    auto store = store::OpenStore(options);
    ASSERT_TRUE(store.ok()) << store.error().detail();
    sqlite_ = std::move(*store);
    ASSERT_TRUE(store::Migrate(*sqlite_, clock_).ok());
    store_.emplace(*sqlite_);

    master_ = crypto::GenerateMasterKeyFile();
    auto keys = crypto::KeyRing::Parse(master_);
    ASSERT_TRUE(keys.ok());
    keys_.emplace(std::move(*keys));
    auto state = state::OpenState(state::StateOptions{}, clock_);
    ASSERT_TRUE(state.ok());
    memory_state_ = std::move(*state);
    state_.emplace(*memory_state_);
    limiter_.emplace(clock_);
    repository_.emplace(*store_, clock_);

    settings_.environment = KeyEnvironment::kTest;
    settings_.rotation_grace = kDay;
    settings_.usage_event_interval = minutes(5);
    settings_.admin_only_scopes = {"admin"};
    settings_.max_keys_per_owner = 3;
    a_ = MakeService();
    b_ = MakeService();
  }

  void TearDown() override {
    a_.reset();
    b_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::unique_ptr<ApiKeyService> MakeService(const crypto::KeyRing* keys = nullptr) {
    auto hasher = ApiKeyHasher::Create(keys != nullptr ? *keys : *keys_);
    EXPECT_TRUE(hasher.ok());
    return std::make_unique<ApiKeyService>(*repository_, *state_, &*limiter_, std::move(*hasher),
                                           events_, clock_, settings_);
  }

  static KeyActor User(std::string account = "acc_ada") {
    KeyActor actor;
    actor.account_id = std::move(account);
    actor.context.request_id = "req-1";
    actor.context.client_ip = "203.0.113.9";
    return actor;
  }
  static KeyActor Admin() {
    KeyActor actor;
    actor.admin = true;
    return actor;
  }
  static RequestContext Ctx() {
    RequestContext ctx;
    ctx.request_id = "req-2";
    ctx.client_ip = "198.51.100.20";
    return ctx;
  }

  IssuedApiKey MustCreate(ApiKeyService& service, KeyActor actor = User(),
                          NewKeyRequest request = {}) {
    if (request.name.empty()) request.name = "deploy bot";
    auto issued = service.Create(actor, request);
    EXPECT_TRUE(issued.ok()) << issued.error().message() << " " << issued.error().detail();
    return std::move(*issued);
  }

  // The client-facing sentence of a refusal, or "ok".
  static std::string Outcome(const Result<KeyAuthentication>& auth) {
    if (auth.ok()) return auth->limited ? "limited" : "ok";
    EXPECT_EQ(auth.error().code(), ErrorCode::kUnauthenticated) << auth.error().message();
    return auth.error().message();
  }
  std::string Use(ApiKeyService& service, const Secret& key) {
    return Outcome(service.Authenticate(key.reveal(), Ctx()));
  }

  ManualClock clock_;
  std::string dir_;
  std::unique_ptr<store::Store> sqlite_;
  std::optional<CountingStore> store_;
  Secret master_;
  std::optional<crypto::KeyRing> keys_;
  std::unique_ptr<state::StateStore> memory_state_;
  std::optional<FlakyState> state_;
  std::optional<protect::MemoryRateLimiter> limiter_;
  std::optional<ApiKeyRepository> repository_;
  audit::MemoryEventSink events_;
  ApiKeySettings settings_;
  std::unique_ptr<ApiKeyService> a_;
  std::unique_ptr<ApiKeyService> b_;
};

// ---- issuing -------------------------------------------------------------------------------

TEST_F(ApiKeyServiceTest, IssuedKeyIsStoredOnlyAsItsKeyedHash) {
  IssuedApiKey issued = MustCreate(*a_);
  const std::string key(issued.key.reveal());
  EXPECT_EQ(CheckApiKeyFormat(key, KeyEnvironment::kTest), KeyFormatError::kNone);
  EXPECT_EQ(issued.record.prefix, DisplayPrefix(key));
  EXPECT_EQ(issued.record.expires_at - issued.record.created_at, 90 * 24 * 3600);

  auto rows = sqlite_->Query("SELECT * FROM api_keys");
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  const std::string secret_part = key.substr(kApiKeyPrefixChars + kApiKeyDisplayChars);
  for (const store::Value& value : (*rows)[0]) {
    if (const auto* text = std::get_if<std::string>(&value)) {
      EXPECT_EQ(text->find(secret_part), std::string::npos);
      EXPECT_EQ(text->find(key), std::string::npos);
    }
  }
  auto hasher = ApiKeyHasher::Create(*keys_);
  ASSERT_TRUE(hasher.ok());
  auto stored = sqlite_->Query("SELECT key_hash FROM api_keys");
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(std::get<std::string>((*stored)[0][0]), ApiKeyHasher::Encode(hasher->Current(key)));
}

TEST_F(ApiKeyServiceTest, KeyHashDependsOnTheMasterKey) {
  IssuedApiKey issued = MustCreate(*a_);
  auto other_ring = crypto::KeyRing::Parse(crypto::GenerateMasterKeyFile());
  ASSERT_TRUE(other_ring.ok());
  auto mine = ApiKeyHasher::Create(*keys_);
  auto theirs = ApiKeyHasher::Create(*other_ring);
  ASSERT_TRUE(mine.ok() && theirs.ok());
  EXPECT_NE(mine->Current(issued.key.reveal()), theirs->Current(issued.key.reveal()));
  // A deployment with another master key does not know the key at all.
  auto foreign = MakeService(&*other_ring);
  EXPECT_EQ(Use(*foreign, issued.key), "The API key is not valid.");
}

TEST_F(ApiKeyServiceTest, LifetimeIsBoundedAndDefaulted) {
  NewKeyRequest request;
  request.name = "short";
  request.lifetime = seconds(30);
  EXPECT_EQ(MustCreate(*a_, User(), request).record.expires_at -
                clock_.Now().time_since_epoch() / seconds(1),
            30);
  request.lifetime = seconds(0);
  EXPECT_EQ(a_->Create(User(), request).error().code(), ErrorCode::kInvalidArgument);
  request.lifetime = settings_.max_lifetime + seconds(1);
  EXPECT_EQ(a_->Create(User(), request).error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(ApiKeyServiceTest, NamesAndScopesAreCheckedStrictly) {
  NewKeyRequest request;
  request.name = std::string(101, 'n');
  EXPECT_EQ(a_->Create(User(), request).error().code(), ErrorCode::kInvalidArgument);
  request.name = "tab\there";
  EXPECT_EQ(a_->Create(User(), request).error().code(), ErrorCode::kInvalidArgument);
  request.name = "ok";
  for (const std::vector<std::string>& scopes :
       std::vector<std::vector<std::string>>{{""},
                                             {"has space"},
                                             {std::string(65, 's')},
                                             {"a", "a"},
                                             std::vector<std::string>(33, "x")}) {
    request.scopes = scopes;
    EXPECT_EQ(a_->Create(User(), request).error().code(), ErrorCode::kInvalidArgument)
        << scopes.size();
  }
  request.scopes = {"billing:read", "orders/write", "a.b-c_d"};
  EXPECT_TRUE(a_->Create(User(), request).ok());
}

TEST_F(ApiKeyServiceTest, ScopeVocabularyIsEnforcedWhenSet) {
  settings_.scopes = {"billing:read", "admin"};
  auto service = MakeService();
  NewKeyRequest request;
  request.name = "n";
  request.scopes = {"billing:write"};
  EXPECT_EQ(service->Create(User(), request).error().code(), ErrorCode::kInvalidArgument);
  request.scopes = {"billing:read"};
  EXPECT_TRUE(service->Create(User(), request).ok());
}

TEST_F(ApiKeyServiceTest, AdminOnlyScopeIsRefusedToUsersAndReported) {
  NewKeyRequest request;
  request.name = "n";
  request.scopes = {"admin"};
  auto refused = a_->Create(User(), request);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), ErrorCode::kPermissionDenied);
  EXPECT_EQ(events_.CountOf(EventType::kPrivilegeEscalation), 1u);

  auto account = a_->CreateServiceAccount(Admin(), "ops", "");
  ASSERT_TRUE(account.ok());
  request.service_account_id = account->id;
  EXPECT_TRUE(a_->Create(Admin(), request).ok());
}

TEST_F(ApiKeyServiceTest, UsersMayOnlyLowerAKeysLimit) {
  NewKeyRequest request;
  request.name = "n";
  request.rate_limit = "2000/1m";
  EXPECT_EQ(a_->Create(User(), request).error().code(), ErrorCode::kPermissionDenied);
  request.rate_limit = "20/1s";  // 1200 a minute: a higher rate in another window.
  EXPECT_EQ(a_->Create(User(), request).error().code(), ErrorCode::kPermissionDenied);
  request.rate_limit = "five";
  EXPECT_EQ(a_->Create(User(), request).error().code(), ErrorCode::kInvalidArgument);
  request.rate_limit = "100/1m";
  EXPECT_EQ(MustCreate(*a_, User(), request).record.rate_limit, "100/1m");

  auto account = a_->CreateServiceAccount(Admin(), "batch", "");
  ASSERT_TRUE(account.ok());
  request.service_account_id = account->id;
  request.rate_limit = "5000/1m";
  EXPECT_TRUE(a_->Create(Admin(), request).ok());
}

TEST_F(ApiKeyServiceTest, OwnerKeyLimitIsEnforced) {
  for (int i = 0; i < 3; ++i) MustCreate(*a_);
  NewKeyRequest request;
  request.name = "fourth";
  auto refused = a_->Create(User(), request);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_TRUE(a_->Create(User("acc_other"), request).ok());  // Per owner.
}

TEST_F(ApiKeyServiceTest, AdminKeysNeedAServiceAccount) {
  NewKeyRequest request;
  request.name = "n";
  EXPECT_EQ(a_->Create(Admin(), request).error().code(), ErrorCode::kInvalidArgument);
  request.service_account_id = "sa_nope";
  EXPECT_EQ(a_->Create(Admin(), request).error().code(), ErrorCode::kNotFound);
}

// ---- authenticating ------------------------------------------------------------------------

TEST_F(ApiKeyServiceTest, FreshKeyAuthenticatesWithItsOwnerAndScopes) {
  NewKeyRequest request;
  request.name = "n";
  request.scopes = {"billing:read", "billing:write"};
  IssuedApiKey issued = MustCreate(*a_, User(), request);
  auto auth = a_->Authenticate(issued.key.reveal(), Ctx());
  ASSERT_TRUE(auth.ok()) << auth.error().message();
  EXPECT_FALSE(auth->limited);
  EXPECT_EQ(auth->key->id, issued.record.id);
  EXPECT_EQ(auth->key->owner_kind, OwnerKind::kUser);
  EXPECT_EQ(auth->key->owner_id, "acc_ada");
  EXPECT_EQ(auth->key->scopes, "billing:read billing:write");
}

TEST_F(ApiKeyServiceTest, CachedKeyTouchesNoStore) {
  IssuedApiKey issued = MustCreate(*a_);
  ASSERT_EQ(Use(*a_, issued.key), "ok");  // The first use looks the key up.
  const int before = store_->calls.load();

  for (int i = 0; i < 500; ++i) ASSERT_EQ(Use(*a_, issued.key), "ok");

  EXPECT_EQ(store_->calls.load(), before);
  EXPECT_EQ(a_->counters().store_lookups, 1u);
  EXPECT_EQ(a_->counters().cache_hits, 500u);
  // Even with the database gone, a cached key keeps working.
  store_->failing = true;
  EXPECT_EQ(Use(*a_, issued.key), "ok");
}

TEST_F(ApiKeyServiceTest, UnknownKeyIsLookedUpOnceThenAnsweredFromMemory) {
  const Secret stranger = GenerateApiKey(KeyEnvironment::kTest);
  EXPECT_EQ(Use(*a_, stranger), "The API key is not valid.");
  const int before = store_->calls.load();
  for (int i = 0; i < 100; ++i) EXPECT_EQ(Use(*a_, stranger), "The API key is not valid.");
  EXPECT_EQ(store_->calls.load(), before);
  EXPECT_EQ(a_->counters().store_lookups, 1u);
}

TEST_F(ApiKeyServiceTest, CacheEntriesAreLookedUpAgainAfterTheirTtl) {
  IssuedApiKey issued = MustCreate(*a_);
  ASSERT_EQ(Use(*a_, issued.key), "ok");
  clock_.Advance(settings_.cache_ttl + seconds(1));
  ASSERT_EQ(Use(*a_, issued.key), "ok");
  EXPECT_EQ(a_->counters().store_lookups, 2u);
}

TEST_F(ApiKeyServiceTest, BadInputIsRefusedBeforeAnyStoreLookup) {
  const std::string key(MustCreate(*a_).key.reveal());
  std::string typo = key;
  typo[20] = typo[20] == 'a' ? 'b' : 'a';
  std::string non_base62 = key;
  non_base62[20] = '-';
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"gh_live_" + key.substr(8),
       "The API key was issued for another environment (live or test)."},
      {"ghp_" + key.substr(4), "The API key does not start with gh_live_ or gh_test_."},
      {key.substr(0, 40), "The API key has the wrong length."},
      {non_base62, "The API key has characters outside [0-9A-Za-z] after its prefix."},
      {typo, "The API key's checksum does not match; it was probably mistyped or cut."},
      {std::string(100000, 'x'), "The API key does not start with gh_live_ or gh_test_."},
  };
  const int before = store_->calls.load();
  for (const auto& [text, message] : cases) {
    EXPECT_EQ(Outcome(a_->Authenticate(text, Ctx())), message);
  }
  EXPECT_EQ(store_->calls.load(), before);
  EXPECT_EQ(a_->counters().malformed, cases.size());
  EXPECT_EQ(a_->counters().refused, cases.size());
  EXPECT_EQ(events_.CountOf(EventType::kUnauthorizedAccess), cases.size());
}

TEST_F(ApiKeyServiceTest, AuthenticateFromMemoryDeclinesOnlyWhenTheStoreIsNeeded) {
  IssuedApiKey issued = MustCreate(*a_);
  const int before = store_->calls.load();
  EXPECT_FALSE(a_->AuthenticateFromMemory(issued.key.reveal(), Ctx()));  // Not cached yet.
  auto malformed = a_->AuthenticateFromMemory("gh_test_short", Ctx());
  ASSERT_TRUE(malformed);
  EXPECT_FALSE(malformed->ok());
  EXPECT_EQ(store_->calls.load(), before);

  ASSERT_EQ(Use(*a_, issued.key), "ok");
  auto cached = a_->AuthenticateFromMemory(issued.key.reveal(), Ctx());
  ASSERT_TRUE(cached);
  ASSERT_TRUE(cached->ok());
  EXPECT_EQ((*cached)->key->id, issued.record.id);
}

TEST_F(ApiKeyServiceTest, RefusalsCostAlikeWhateverWasPresented) {
  // Every refusal costs one keyed hash and one cache probe: a typo is not measurably
  // cheaper than a wrong secret, nor a revoked key dearer than an unknown one. Medians of
  // many runs, with a generous bound: a store query or a second hash would be far more.
  IssuedApiKey revoked = MustCreate(*a_);
  ASSERT_EQ(Use(*a_, revoked.key), "ok");
  ASSERT_TRUE(a_->Revoke(User(), revoked.record.id).ok());
  const std::string key(MustCreate(*a_).key.reveal());
  std::string wrong_secret(GenerateApiKey(KeyEnvironment::kTest).reveal());
  std::string typo = key;
  typo[30] = typo[30] == 'a' ? 'b' : 'a';
  // Warm: the wrong secret is then known to be unknown, the revoked key is cached.
  (void)a_->Authenticate(wrong_secret, Ctx());
  (void)a_->Authenticate(revoked.key.reveal(), Ctx());

  auto median_ns = [&](std::string_view text) {
    std::vector<std::int64_t> samples;
    for (int i = 0; i < 3000; ++i) {
      const auto start = std::chrono::steady_clock::now();
      auto outcome = a_->Authenticate(text, Ctx());
      const auto end = std::chrono::steady_clock::now();
      EXPECT_FALSE(outcome.ok());
      samples.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(end - start).count());
    }
    std::nth_element(samples.begin(), samples.begin() + samples.size() / 2, samples.end());
    return static_cast<double>(samples[samples.size() / 2]);
  };
  const std::string other_environment = "gh_live_" + key.substr(8);
  const double reference = median_ns(wrong_secret);
  for (std::string_view other : {std::string_view(typo), std::string_view("gh_test_"),
                                 revoked.key.reveal(), std::string_view(other_environment)}) {
    const double ratio = median_ns(other) / reference;
    EXPECT_GT(ratio, 0.33) << other.substr(0, 12);
    EXPECT_LT(ratio, 3.0) << other.substr(0, 12);
  }
}

TEST_F(ApiKeyServiceTest, ExpiredKeyIsRefusedAsExpired) {
  NewKeyRequest request;
  request.name = "n";
  request.lifetime = hours(1);
  IssuedApiKey issued = MustCreate(*a_, User(), request);
  ASSERT_EQ(Use(*a_, issued.key), "ok");
  clock_.Advance(hours(1) - seconds(1));
  EXPECT_EQ(Use(*a_, issued.key), "ok");
  clock_.Advance(seconds(1));
  EXPECT_EQ(Use(*a_, issued.key), "The API key has expired.");
  EXPECT_EQ(Use(*b_, issued.key), "The API key has expired.");  // From the store too.
}

// ---- rotation ------------------------------------------------------------------------------

TEST_F(ApiKeyServiceTest, RotatedKeyWorksThroughItsGraceThenStops) {
  // Caches that outlive the grace, so B answers from its snapshot of before the rotation.
  settings_.cache_ttl = kDay * 30;
  a_ = MakeService();
  b_ = MakeService();
  IssuedApiKey old = MustCreate(*a_);
  ASSERT_EQ(Use(*a_, old.key), "ok");
  ASSERT_EQ(Use(*b_, old.key), "ok");  // B holds the old snapshot in its cache.

  auto rotation = a_->Rotate(User(), old.record.id);
  ASSERT_TRUE(rotation.ok()) << rotation.error().message();
  const std::int64_t now = clock_.Now().time_since_epoch() / seconds(1);
  EXPECT_EQ(rotation->replaced_ends_at, now + 24 * 3600);
  EXPECT_EQ(rotation->successor.record.rotated_from, old.record.id);
  EXPECT_EQ(rotation->successor.record.name, old.record.name);
  EXPECT_NE(rotation->successor.key.reveal(), old.key.reveal());
  EXPECT_EQ(Use(*a_, rotation->successor.key), "ok");

  clock_.Advance(kDay - seconds(1));
  EXPECT_EQ(Use(*a_, old.key), "ok");
  EXPECT_EQ(Use(*b_, old.key), "ok");
  clock_.Advance(seconds(1));
  const std::string ended = "The API key was replaced by rotation and its grace period has ended.";
  EXPECT_EQ(Use(*a_, old.key), ended);
  // B's cached snapshot still says 90 days: the live marker overrides it.
  EXPECT_EQ(b_->counters().store_lookups, 1u);
  EXPECT_EQ(Use(*b_, old.key), ended);
  EXPECT_EQ(Use(*b_, rotation->successor.key), "ok");
  // A fresh lookup agrees: the store has the grace end too.
  auto fresh = MakeService();
  EXPECT_EQ(Use(*fresh, old.key), ended);
}

TEST_F(ApiKeyServiceTest, GraceNeverOutlastsTheOldKeysExpiry) {
  NewKeyRequest request;
  request.name = "n";
  request.lifetime = hours(2);
  IssuedApiKey old = MustCreate(*a_, User(), request);
  auto rotation = a_->Rotate(User(), old.record.id);
  ASSERT_TRUE(rotation.ok());
  EXPECT_EQ(rotation->replaced_ends_at, old.record.expires_at);
  clock_.Advance(hours(2));
  EXPECT_EQ(Use(*a_, old.key), "The API key has expired.");
}

TEST_F(ApiKeyServiceTest, ZeroGraceEndsTheOldKeyAtOnceEverywhere) {
  settings_.rotation_grace = seconds(0);
  auto a = MakeService();
  auto b = MakeService();
  IssuedApiKey old = MustCreate(*a);
  ASSERT_EQ(Use(*b, old.key), "ok");
  ASSERT_TRUE(a->Rotate(User(), old.record.id).ok());
  EXPECT_NE(Use(*b, old.key), "ok");
}

TEST_F(ApiKeyServiceTest, OnlyAWorkingUnrotatedKeyCanBeRotated) {
  IssuedApiKey key = MustCreate(*a_);
  auto first = a_->Rotate(User(), key.record.id);
  ASSERT_TRUE(first.ok());
  auto again = a_->Rotate(User(), key.record.id);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_TRUE(a_->Rotate(User(), first->successor.record.id).ok());

  IssuedApiKey revoked = MustCreate(*a_);
  ASSERT_TRUE(a_->Revoke(User(), revoked.record.id).ok());
  EXPECT_EQ(a_->Rotate(User(), revoked.record.id).error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(a_->Rotate(User(), "key_unknown").error().code(), ErrorCode::kNotFound);
}

// ---- revocation ----------------------------------------------------------------------------

TEST_F(ApiKeyServiceTest, RevocationOnOneInstanceStopsTheKeyOnTheOtherAtOnce) {
  IssuedApiKey issued = MustCreate(*a_);
  ASSERT_EQ(Use(*b_, issued.key), "ok");  // Cached on B.
  const int before = store_->calls.load();

  ASSERT_TRUE(a_->Revoke(User(), issued.record.id).ok());

  // No clock movement, no cache expiry, and B asks no store: the marker decides.
  const int after_revoke = store_->calls.load();
  EXPECT_EQ(Use(*b_, issued.key), "The API key has been revoked.");
  EXPECT_EQ(store_->calls.load(), after_revoke);
  EXPECT_GT(after_revoke, before);
  auto again = a_->Revoke(User(), issued.record.id);
  EXPECT_EQ(again.error().code(), ErrorCode::kNotFound);
}

TEST_F(ApiKeyServiceTest, RevocationChangesNothingWhenTheStateCannotBeTold) {
  IssuedApiKey issued = MustCreate(*a_);
  state_->failing = true;
  auto revoked = a_->Revoke(User(), issued.record.id);
  ASSERT_FALSE(revoked.ok());
  EXPECT_EQ(revoked.error().code(), ErrorCode::kUnavailable);
  auto record = repository_->FindById(issued.record.id);
  ASSERT_TRUE(record.ok());
  EXPECT_FALSE((*record)->revoked_at);  // Nothing half done: retry later.
  state_->failing = false;
  EXPECT_TRUE(a_->Revoke(User(), issued.record.id).ok());
}

TEST_F(ApiKeyServiceTest, AnUnanswerableRevocationCheckRefuses) {
  IssuedApiKey issued = MustCreate(*a_);
  ASSERT_EQ(Use(*a_, issued.key), "ok");
  state_->failing = true;
  auto auth = a_->Authenticate(issued.key.reveal(), Ctx());
  ASSERT_FALSE(auth.ok());
  EXPECT_EQ(auth.error().code(), ErrorCode::kUnavailable);
}

TEST_F(ApiKeyServiceTest, KeysOfOthersAnswerLikeUnknownOnes) {
  IssuedApiKey issued = MustCreate(*a_, User("acc_ada"));
  const KeyActor mallory = User("acc_mallory");
  EXPECT_EQ(a_->Revoke(mallory, issued.record.id).error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(a_->Rotate(mallory, issued.record.id).error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(a_->Find(mallory, issued.record.id).error().code(), ErrorCode::kNotFound);
  auto listed = a_->List(mallory);
  ASSERT_TRUE(listed.ok());
  EXPECT_TRUE(listed->empty());
  EXPECT_EQ(Use(*a_, issued.key), "ok");
  EXPECT_TRUE(a_->Revoke(Admin(), issued.record.id).ok());  // The admin sees every key.
}

// ---- service accounts ----------------------------------------------------------------------

TEST_F(ApiKeyServiceTest, UsersManageKeysOfTheirServiceAccounts) {
  auto account = a_->CreateServiceAccount(User(), "billing-sync", "nightly export");
  ASSERT_TRUE(account.ok());
  EXPECT_EQ(account->owner_account_id, "acc_ada");
  NewKeyRequest request;
  request.name = "n";
  request.service_account_id = account->id;
  IssuedApiKey issued = MustCreate(*a_, User(), request);
  EXPECT_EQ(issued.record.owner_kind, OwnerKind::kServiceAccount);
  auto auth = a_->Authenticate(issued.key.reveal(), Ctx());
  ASSERT_TRUE(auth.ok());
  EXPECT_EQ(auth->key->owner_id, account->id);

  // Another user can neither use the account nor see its keys.
  EXPECT_EQ(a_->Create(User("acc_bob"), request).error().code(), ErrorCode::kNotFound);
  auto bobs = a_->List(User("acc_bob"));
  ASSERT_TRUE(bobs.ok());
  EXPECT_TRUE(bobs->empty());
  auto adas = a_->List(User());
  ASSERT_TRUE(adas.ok());
  ASSERT_EQ(adas->size(), 1u);
}

TEST_F(ApiKeyServiceTest, DisablingAServiceAccountRevokesItsKeysEverywhere) {
  auto account = a_->CreateServiceAccount(Admin(), "ops", "");
  ASSERT_TRUE(account.ok());
  EXPECT_FALSE(account->owner_account_id);
  NewKeyRequest request;
  request.name = "n";
  request.service_account_id = account->id;
  IssuedApiKey first = MustCreate(*a_, Admin(), request);
  IssuedApiKey second = MustCreate(*a_, Admin(), request);
  ASSERT_EQ(Use(*b_, first.key), "ok");

  ASSERT_TRUE(a_->DisableServiceAccount(Admin(), account->id).ok());

  EXPECT_EQ(Use(*b_, first.key), "The API key has been revoked.");
  EXPECT_EQ(Use(*b_, second.key), "The API key has been revoked.");
  EXPECT_EQ(a_->Create(Admin(), request).error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(a_->DisableServiceAccount(Admin(), account->id).error().code(), ErrorCode::kNotFound);
}

TEST_F(ApiKeyServiceTest, AdminServiceAccountsAreNotUsersToUse) {
  auto account = a_->CreateServiceAccount(Admin(), "ops", "");
  ASSERT_TRUE(account.ok());
  NewKeyRequest request;
  request.name = "n";
  request.service_account_id = account->id;
  EXPECT_EQ(a_->Create(User(), request).error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(a_->DisableServiceAccount(User(), account->id).error().code(), ErrorCode::kNotFound);
}

TEST_F(ApiKeyServiceTest, ServiceAccountsPerUserAreCapped) {
  settings_.max_service_accounts_per_user = 1;
  auto service = MakeService();
  ASSERT_TRUE(service->CreateServiceAccount(User(), "one", "").ok());
  EXPECT_EQ(service->CreateServiceAccount(User(), "two", "").error().code(),
            ErrorCode::kFailedPrecondition);
  settings_.max_service_accounts_per_user = 0;
  auto admins_only = MakeService();
  EXPECT_EQ(admins_only->CreateServiceAccount(User("acc_x"), "one", "").error().code(),
            ErrorCode::kPermissionDenied);
}

// ---- per-key rate limit --------------------------------------------------------------------

TEST_F(ApiKeyServiceTest, EachKeyHasItsOwnLimitAcrossInstances) {
  NewKeyRequest request;
  request.name = "n";
  request.rate_limit = "3/1m";
  IssuedApiKey limited = MustCreate(*a_, User(), request);
  IssuedApiKey other = MustCreate(*a_);
  // Both instances count into the one limiter, as they do into one Redis.
  EXPECT_EQ(Use(*a_, limited.key), "ok");
  EXPECT_EQ(Use(*b_, limited.key), "ok");
  EXPECT_EQ(Use(*a_, limited.key), "ok");
  auto refused = b_->Authenticate(limited.key.reveal(), Ctx());
  ASSERT_TRUE(refused.ok());
  EXPECT_TRUE(refused->limited);
  EXPECT_EQ(refused->limit_class.name, "api_key");
  EXPECT_EQ(refused->limit_class.limit, 3u);
  EXPECT_GT(refused->decision.retry_after.count(), 0);
  EXPECT_EQ(Use(*a_, other.key), "ok");  // Another key keeps its budget.
  clock_.Advance(minutes(1));
  EXPECT_EQ(Use(*a_, limited.key), "ok");
}

TEST_F(ApiKeyServiceTest, TheClassLimitAppliesWithoutAnOverride) {
  settings_.rate_class.limit = 2;
  auto service = MakeService();
  IssuedApiKey issued = MustCreate(*service);
  EXPECT_EQ(Use(*service, issued.key), "ok");
  EXPECT_EQ(Use(*service, issued.key), "ok");
  EXPECT_EQ(Use(*service, issued.key), "limited");
}

// ---- usage ---------------------------------------------------------------------------------

TEST_F(ApiKeyServiceTest, UsageIsWrittenInOneBatchPerFlush) {
  IssuedApiKey first = MustCreate(*a_);
  IssuedApiKey second = MustCreate(*a_);
  ASSERT_EQ(Use(*a_, first.key), "ok");
  ASSERT_EQ(Use(*a_, second.key), "ok");
  const int before = store_->calls.load();
  for (int i = 0; i < 99; ++i) ASSERT_EQ(Use(*a_, first.key), "ok");
  EXPECT_EQ(store_->calls.load(), before);  // Nothing written per request.

  ASSERT_TRUE(a_->FlushUsage().ok());

  EXPECT_EQ(store_->calls.load(), before + 1);  // One transaction for both keys.
  auto stored = repository_->FindById(first.record.id);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ((*stored)->usage_count, 100);
  EXPECT_EQ((*stored)->last_used_at, clock_.Now().time_since_epoch() / seconds(1));
  EXPECT_EQ((*stored)->last_ip, "198.51.100.0/24");
  EXPECT_EQ((*repository_->FindById(second.record.id))->usage_count, 1);
}

TEST_F(ApiKeyServiceTest, UsageFromTwoInstancesAddsUp) {
  IssuedApiKey issued = MustCreate(*a_);
  for (int i = 0; i < 7; ++i) ASSERT_EQ(Use(*a_, issued.key), "ok");
  for (int i = 0; i < 5; ++i) ASSERT_EQ(Use(*b_, issued.key), "ok");
  ASSERT_TRUE(b_->FlushUsage().ok());
  ASSERT_TRUE(a_->FlushUsage().ok());
  EXPECT_EQ((*repository_->FindById(issued.record.id))->usage_count, 12);
}

TEST_F(ApiKeyServiceTest, AFailedFlushKeepsTheCountsForTheNextOne) {
  IssuedApiKey issued = MustCreate(*a_);
  for (int i = 0; i < 4; ++i) ASSERT_EQ(Use(*a_, issued.key), "ok");
  store_->failing = true;
  EXPECT_FALSE(a_->FlushUsage().ok());
  EXPECT_EQ(a_->counters().usage_flush_failures, 1u);
  ASSERT_EQ(Use(*a_, issued.key), "ok");  // Cached: the outage does not stop the key.
  store_->failing = false;
  ASSERT_TRUE(a_->FlushUsage().ok());
  EXPECT_EQ((*repository_->FindById(issued.record.id))->usage_count, 5);
}

TEST_F(ApiKeyServiceTest, ListingIncludesRequestsNotFlushedYet) {
  IssuedApiKey issued = MustCreate(*a_);
  for (int i = 0; i < 3; ++i) ASSERT_EQ(Use(*a_, issued.key), "ok");
  auto listed = a_->List(User());
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].usage_count, 3);
  EXPECT_EQ((*listed)[0].last_ip, "198.51.100.0/24");
}

TEST_F(ApiKeyServiceTest, UsageEventsAreAggregatedNotOnePerRequest) {
  IssuedApiKey issued = MustCreate(*a_);
  for (int i = 0; i < 250; ++i) ASSERT_EQ(Use(*a_, issued.key), "ok");
  ASSERT_TRUE(a_->FlushUsage().ok());
  auto usage_events = [&] {
    std::vector<audit::SecurityEvent> found;
    for (const audit::SecurityEvent& e : events_.Events()) {
      if (e.type == EventType::kApiKeyUsage) found.push_back(e);
    }
    return found;
  };
  auto attribute = [](const audit::SecurityEvent& e, std::string_view name) {
    for (const auto& [key, value] : e.attributes) {
      if (key == name) return value;
    }
    return std::string();
  };
  ASSERT_EQ(usage_events().size(), 1u);  // The first use is reported at the first flush.
  EXPECT_EQ(attribute(usage_events()[0], "requests"), "250");
  EXPECT_EQ(attribute(usage_events()[0], "key_id"), issued.record.id);
  EXPECT_EQ(usage_events()[0].user_id, "acc_ada");

  for (int i = 0; i < 40; ++i) ASSERT_EQ(Use(*a_, issued.key), "ok");
  clock_.Advance(minutes(2));
  ASSERT_TRUE(a_->FlushUsage().ok());
  EXPECT_EQ(usage_events().size(), 1u);  // Inside the interval: kept for later.
  clock_.Advance(minutes(3));
  ASSERT_TRUE(a_->FlushUsage().ok());
  ASSERT_EQ(usage_events().size(), 2u);
  EXPECT_EQ(attribute(usage_events()[1], "requests"), "40");
}

// ---- expiry notices ------------------------------------------------------------------------

TEST_F(ApiKeyServiceTest, KeysNearingExpiryAreReportedOnceADay) {
  NewKeyRequest request;
  request.name = "soon";
  request.lifetime = kDay * 10;
  IssuedApiKey soon = MustCreate(*a_, User(), request);
  request.name = "later";
  request.lifetime = kDay * 20;
  MustCreate(*a_, User(), request);

  auto reported = a_->NotifyExpiring();
  ASSERT_TRUE(reported.ok());
  EXPECT_EQ(*reported, 1u);
  // The other instance, the same day: already reported.
  EXPECT_EQ(*b_->NotifyExpiring(), 0u);
  clock_.Advance(hours(1));
  EXPECT_EQ(*a_->NotifyExpiring(), 0u);
  clock_.Advance(kDay);
  EXPECT_EQ(*b_->NotifyExpiring(), 1u);
  // After ten days "later" is within the window too (20 - 7 = 13 days left).
  clock_.Advance(kDay * 6);
  EXPECT_EQ(*a_->NotifyExpiring(), 2u);

  std::size_t notices = 0;
  for (const audit::SecurityEvent& e : events_.Events()) {
    if (e.type == EventType::kApiKeyLifecycle && e.reason == "expiring_soon") {
      ++notices;
      EXPECT_EQ(e.severity, audit::Severity::kMedium);
    }
  }
  EXPECT_EQ(notices, 4u);
  EXPECT_EQ(events_.Events().back().attributes[0].second.rfind("key_", 0), 0u);
  EXPECT_FALSE(soon.record.id.empty());
}

TEST_F(ApiKeyServiceTest, RotatedAndRevokedKeysAreNotReported) {
  NewKeyRequest request;
  request.name = "n";
  request.lifetime = kDay * 3;
  IssuedApiKey rotated = MustCreate(*a_, User(), request);
  IssuedApiKey revoked = MustCreate(*a_, User(), request);
  ASSERT_TRUE(a_->Rotate(User(), rotated.record.id).ok());
  ASSERT_TRUE(a_->Revoke(User(), revoked.record.id).ok());
  EXPECT_EQ(*a_->NotifyExpiring(), 0u);
}

// ---- key material never leaves -------------------------------------------------------------

TEST_F(ApiKeyServiceTest, NoEventCarriesKeyMaterial) {
  auto account = a_->CreateServiceAccount(User(), "sa", "");
  ASSERT_TRUE(account.ok());
  NewKeyRequest request;
  request.name = "n";
  request.service_account_id = account->id;
  IssuedApiKey issued = MustCreate(*a_, User(), request);
  ASSERT_EQ(Use(*a_, issued.key), "ok");
  std::string typo(issued.key.reveal());
  typo[25] = typo[25] == 'a' ? 'b' : 'a';
  (void)a_->Authenticate(typo, Ctx());
  auto rotation = a_->Rotate(User(), issued.record.id);
  ASSERT_TRUE(rotation.ok());
  ASSERT_TRUE(a_->FlushUsage().ok());
  ASSERT_TRUE(a_->Revoke(User(), rotation->successor.record.id).ok());
  ASSERT_TRUE(a_->DisableServiceAccount(User(), account->id).ok());

  const std::string hidden[] = {
      std::string(issued.key.reveal().substr(kApiKeyPrefixChars + kApiKeyDisplayChars)),
      std::string(
          rotation->successor.key.reveal().substr(kApiKeyPrefixChars + kApiKeyDisplayChars)),
      typo.substr(kApiKeyPrefixChars + kApiKeyDisplayChars)};
  ASSERT_GE(events_.Events().size(), 6u);
  for (const audit::SecurityEvent& e : events_.Events()) {
    for (const std::string& secret : hidden) {
      const std::string probe = secret.substr(0, 12);
      EXPECT_EQ(e.reason.find(probe), std::string::npos);
      for (const auto& [key, value] : e.attributes) {
        EXPECT_EQ(value.find(probe), std::string::npos)
            << audit::EventTypeName(e.type) << " " << key;
      }
    }
  }
}

// ---- settings from configuration -----------------------------------------------------------

TEST(ApiKeySettingsFromConfig, TheProfileChoosesTheEnvironment) {
  EXPECT_EQ(ApiKeySettingsFromConfig(core::DefaultConfig(core::Profile::kProduction)).environment,
            KeyEnvironment::kLive);
  EXPECT_EQ(ApiKeySettingsFromConfig(core::DefaultConfig(core::Profile::kStaging)).environment,
            KeyEnvironment::kTest);
  core::Config development = core::DefaultConfig(core::Profile::kDevelopment);
  EXPECT_EQ(ApiKeySettingsFromConfig(development).environment, KeyEnvironment::kTest);
  development.api_keys.environment = "live";
  EXPECT_EQ(ApiKeySettingsFromConfig(development).environment, KeyEnvironment::kLive);
}

TEST(ApiKeySettingsFromConfig, CarriesLifetimesAndScopes) {
  core::Config config = core::DefaultConfig(core::Profile::kDevelopment);
  config.api_keys.default_lifetime_days = 30;
  config.api_keys.scopes = "billing:read, billing:write,ops:admin";
  config.api_keys.admin_only_scopes = " ops:admin ";
  const ApiKeySettings settings = ApiKeySettingsFromConfig(config);
  EXPECT_EQ(settings.default_lifetime, kDay * 30);
  EXPECT_EQ(settings.max_lifetime, kDay * 365);
  EXPECT_EQ(settings.rotation_grace, kDay * 7);
  EXPECT_EQ(settings.expiry_warning, kDay * 14);
  EXPECT_EQ(settings.scopes,
            (std::vector<std::string>{"billing:read", "billing:write", "ops:admin"}));
  EXPECT_EQ(settings.admin_only_scopes, (std::vector<std::string>{"ops:admin"}));
}

// ---- master key rotation -------------------------------------------------------------------

TEST_F(ApiKeyServiceTest, KeysSurviveAMasterKeyRotationAndAreRehashed) {
  IssuedApiKey issued = MustCreate(*a_);
  auto rotated_file = crypto::AddMasterKeyVersion(master_);
  ASSERT_TRUE(rotated_file.ok());
  auto ring = crypto::KeyRing::Parse(*rotated_file);
  ASSERT_TRUE(ring.ok());
  auto after = MakeService(&*ring);

  EXPECT_EQ(Use(*after, issued.key), "ok");

  auto stored = repository_->FindById(issued.record.id);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ((*stored)->hash_version, ring->current_version());
  // A fresh instance on the new ring finds it under the current version directly.
  auto fresh = MakeService(&*ring);
  EXPECT_EQ(Use(*fresh, issued.key), "ok");
}

}  // namespace
}  // namespace gatehouse::auth
