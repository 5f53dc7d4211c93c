#pragma once

// Helpers shared by the store backends. Not for use outside src/store/.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"
#include "store/store.h"

namespace gatehouse::store::internal {

// Errors with the generic client sentence for each code the store returns. The
// detail must hold backend text only, never a parameter value.
Error AlreadyExistsError(std::string detail);
Error UnavailableError(std::string detail);
Error InternalError(std::string detail);

// Refuses text parameters that are not valid UTF-8 or hold NUL, so both backends
// accept exactly the same values. The error names the parameter by position only.
Status ValidateParams(const Params& params);

// Parses a placeholder name "$N" (N from 1 to 65535, no sign or leading zero) and
// returns N; nullopt for any other spelling.
std::optional<std::size_t> ParsePlaceholder(std::string_view name);

// Marks the current thread as running a transaction callback on `store`, so that a
// nested call into the same store from the callback fails fast instead of
// deadlocking on the connection the transaction holds.
class TransactionScope {
 public:
  explicit TransactionScope(const void* store);
  ~TransactionScope();
  TransactionScope(const TransactionScope&) = delete;
  TransactionScope& operator=(const TransactionScope&) = delete;

  // True when the current thread is inside a transaction callback on `store`.
  static bool Active(const void* store);

 private:
  const void* previous_;
};

// The error for a nested call detected by TransactionScope::Active.
Error NestedCallError();

// A transaction on one backend connection that remembers whether any statement
// failed: a callback that swallows a failed statement and returns Ok must still be
// rolled back, since its writes are incomplete. QueryFn and ExecuteFn are the
// backend's functions that run one statement on a connection.
template <typename Connection, auto QueryFn, auto ExecuteFn>
class TrackingTransaction final : public Transaction {
 public:
  TrackingTransaction(Connection conn, std::string_view backend)
      : conn_(conn), backend_(backend) {}

  Result<Rows> Query(std::string_view sql, const Params& params) override {
    return Track(QueryFn(conn_, sql, params));
  }
  Result<std::int64_t> Execute(std::string_view sql, const Params& params) override {
    return Track(ExecuteFn(conn_, sql, params));
  }
  std::string_view backend_name() const override { return backend_; }

  bool had_failure() const { return had_failure_; }

 private:
  template <typename T>
  Result<T> Track(Result<T> result) {
    if (!result.ok()) had_failure_ = true;
    return result;
  }

  Connection conn_;
  std::string_view backend_;
  bool had_failure_ = false;
};

}  // namespace gatehouse::store::internal
