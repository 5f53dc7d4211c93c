#pragma once

// The live side of sessions and tokens, kept in the shared state so that every instance
// sees a logout or a revocation at once, and the forward-auth check never touches the
// database:
//
//   "ses:<sid>"  -> "<account>|<absolute expiry>|<fingerprint>|<last seen>", with a TTL of
//                   the idle timeout (capped by the absolute expiry). Present means the
//                   session is alive; refreshed at most once per touch interval.
//   "deny:<jti>" -> "1" until the access token would have expired: a logged-out token.
//
// Calls go to the state store: fast and non-blocking in memory; with Redis they block, so
// callers run them on the worker pool. Thread-safe.
//
// Activity also reaches the database, in batches and off the request path: every touch
// that writes the state is remembered here until TakeActivity() hands it to a flusher. An
// instance whose state was in memory rebuilds the live sessions from the database when it
// starts (Restore), so a restart signs nobody out, and the idle clock of each session
// restarts from its last recorded activity, so a restart revives no idle session either.

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "core/status.h"
#include "state/state.h"

namespace gatehouse::auth {

struct LiveSession {
  std::string account_id;
  std::int64_t absolute_expires_at = 0;  // Unix seconds.
  std::string fingerprint;
  std::int64_t last_seen = 0;  // Unix seconds.
};

class LiveSessions {
 public:
  // `state` and `clock` must outlive this object.
  LiveSessions(state::StateStore& state, const Clock& clock, std::chrono::seconds idle_timeout,
               std::chrono::seconds touch_interval = std::chrono::seconds(60))
      : state_(state), clock_(clock), idle_(idle_timeout), touch_interval_(touch_interval) {}

  Status Start(std::string_view session_id, const LiveSession& session);

  // The live session, or nullopt when it ended, idled out or passed its absolute expiry.
  Result<std::optional<LiveSession>> Find(std::string_view session_id);

  // Find into `session`, whose strings keep their capacity: the form for the per-request
  // check, which then allocates nothing. False when the session is gone (then `session`
  // holds nothing meaningful).
  Result<bool> FindInto(std::string_view session_id, LiveSession& session);

  // Records activity: extends the idle window when the last touch is older than the
  // touch interval (so an active session costs one state write per interval, not one
  // per request).
  Status Touch(std::string_view session_id, LiveSession& session);

  Status End(std::string_view session_id);

  // Puts a session back with its idle clock at `session.last_seen`. False, and nothing
  // written, when it has idled out or passed its absolute expiry by now.
  Result<bool> Restore(std::string_view session_id, const LiveSession& session);

  // The activity recorded since the last call: (session id, last seen), one per session.
  std::vector<std::pair<std::string, std::int64_t>> TakeActivity();

  // Pending activity is kept for at most this many sessions; past it, new sessions' touches
  // wait for the next batch (their database activity then lags, which can only make a
  // restart end them sooner, never later).
  static constexpr std::size_t kMaxPendingActivity = 100'000;

  // Puts an access token's jti on the deny list until `expires_at` (Unix seconds).
  Status Deny(std::string_view jti, std::int64_t expires_at);
  Result<bool> IsDenied(std::string_view jti);

  std::int64_t Now() const;

 private:
  std::chrono::milliseconds TtlFor(const LiveSession& session) const;
  void RecordActivity(std::string_view session_id, std::int64_t when);

  state::StateStore& state_;
  const Clock& clock_;
  std::chrono::seconds idle_;
  std::chrono::seconds touch_interval_;

  std::mutex activity_mu_;
  std::unordered_map<std::string, std::int64_t> activity_;  // Guarded by activity_mu_.
};

}  // namespace gatehouse::auth
