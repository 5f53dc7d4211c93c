#include "auth/live_sessions.h"

#include <algorithm>
#include <charconv>
#include <cstring>

namespace gatehouse::auth {
namespace {

constexpr std::string_view kSessionPrefix = "ses:";
constexpr std::string_view kDenyPrefix = "deny:";

// A state key, "<prefix><id>", built on the stack for ids of ordinary length: the deny-list
// and session lookups of every verified request need one each.
class StateKey {
 public:
  StateKey(std::string_view prefix, std::string_view id) {
    if (prefix.size() + id.size() <= sizeof(inline_)) {
      std::memcpy(inline_, prefix.data(), prefix.size());
      std::memcpy(inline_ + prefix.size(), id.data(), id.size());
      view_ = std::string_view(inline_, prefix.size() + id.size());
    } else {
      heap_.reserve(prefix.size() + id.size());
      heap_.append(prefix).append(id);
      view_ = heap_;
    }
  }
  StateKey(const StateKey&) = delete;
  StateKey& operator=(const StateKey&) = delete;

  std::string_view view() const { return view_; }

 private:
  char inline_[96];
  std::string heap_;
  std::string_view view_;
};

std::string Encode(const LiveSession& s) {
  return s.account_id + "|" + std::to_string(s.absolute_expires_at) + "|" + s.fingerprint + "|" +
         std::to_string(s.last_seen);
}

bool ParseInt(std::string_view text, std::int64_t& out) {
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

bool Decode(std::string_view text, LiveSession& s) {
  std::string_view parts[4];
  for (int i = 0; i < 3; ++i) {
    const std::size_t bar = text.find('|');
    if (bar == std::string_view::npos) return false;
    parts[i] = text.substr(0, bar);
    text.remove_prefix(bar + 1);
  }
  parts[3] = text;
  if (parts[0].empty() || !ParseInt(parts[1], s.absolute_expires_at) ||
      !ParseInt(parts[3], s.last_seen)) {
    return false;
  }
  s.account_id.assign(parts[0]);
  s.fingerprint.assign(parts[2]);
  return true;
}

}  // namespace

std::int64_t LiveSessions::Now() const {
  return std::chrono::duration_cast<std::chrono::seconds>(clock_.Now().time_since_epoch())
      .count();
}

std::chrono::milliseconds LiveSessions::TtlFor(const LiveSession& session) const {
  // The entry lives for the idle window, but never past the absolute expiry.
  const std::int64_t remaining = session.absolute_expires_at - Now();
  return std::chrono::seconds(std::max<std::int64_t>(0, std::min(idle_.count(), remaining)));
}

Status LiveSessions::Start(std::string_view session_id, const LiveSession& session) {
  LiveSession copy = session;
  copy.last_seen = Now();
  const auto ttl = TtlFor(copy);
  if (ttl.count() <= 0) return InvalidArgument("session already expired");
  return state_.Set(StateKey(kSessionPrefix, session_id).view(), Encode(copy), ttl);
}

Result<std::optional<LiveSession>> LiveSessions::Find(std::string_view session_id) {
  LiveSession session;
  auto found = FindInto(session_id, session);
  if (!found.ok()) return std::move(found).error();
  if (!*found) return std::optional<LiveSession>();
  return std::optional<LiveSession>(std::move(session));
}

Result<bool> LiveSessions::FindInto(std::string_view session_id, LiveSession& session) {
  thread_local std::string value;
  auto found = state_.GetInto(StateKey(kSessionPrefix, session_id).view(), value);
  if (!found.ok()) return std::move(found).error();
  if (!*found) return false;
  if (!Decode(value, session)) return Internal("malformed live session entry");
  // The state's TTL enforces the idle timeout; the absolute expiry is checked here too,
  // so a clock or TTL mismatch can only end a session early, never extend it.
  const std::int64_t now = Now();
  return now < session.absolute_expires_at && now - session.last_seen <= idle_.count();
}

Status LiveSessions::Touch(std::string_view session_id, LiveSession& session) {
  const std::int64_t now = Now();
  if (now - session.last_seen < touch_interval_.count()) return Ok();
  session.last_seen = now;
  const auto ttl = TtlFor(session);
  if (ttl.count() <= 0) return End(session_id);
  GH_RETURN_IF_ERROR(
      state_.Set(StateKey(kSessionPrefix, session_id).view(), Encode(session), ttl));
  RecordActivity(session_id, now);
  return Ok();
}

void LiveSessions::RecordActivity(std::string_view session_id, std::int64_t when) {
  std::lock_guard lock(activity_mu_);
  if (auto it = activity_.find(std::string(session_id)); it != activity_.end()) {
    it->second = std::max(it->second, when);
  } else if (activity_.size() < kMaxPendingActivity) {
    activity_.emplace(session_id, when);
  }
}

std::vector<std::pair<std::string, std::int64_t>> LiveSessions::TakeActivity() {
  std::unordered_map<std::string, std::int64_t> taken;
  {
    std::lock_guard lock(activity_mu_);
    taken.swap(activity_);
  }
  return {std::make_move_iterator(taken.begin()), std::make_move_iterator(taken.end())};
}

Result<bool> LiveSessions::Restore(std::string_view session_id, const LiveSession& session) {
  const std::int64_t now = Now();
  const std::int64_t idle_left = idle_.count() - (now - session.last_seen);
  const std::int64_t seconds = std::min(idle_left, session.absolute_expires_at - now);
  if (seconds <= 0) return false;
  GH_RETURN_IF_ERROR(state_.Set(StateKey(kSessionPrefix, session_id).view(), Encode(session),
                                std::chrono::seconds(seconds)));
  return true;
}

Status LiveSessions::End(std::string_view session_id) {
  auto deleted = state_.Delete(StateKey(kSessionPrefix, session_id).view());
  if (!deleted.ok()) return std::move(deleted).error();
  return Ok();
}

Status LiveSessions::Deny(std::string_view jti, std::int64_t expires_at) {
  // Kept one extra minute so verification leeway cannot outlast the entry.
  const std::int64_t seconds = expires_at - Now() + 60;
  if (seconds <= 0) return Ok();
  return state_.Set(StateKey(kDenyPrefix, jti).view(), "1", std::chrono::seconds(seconds));
}

Result<bool> LiveSessions::IsDenied(std::string_view jti) {
  return state_.Exists(StateKey(kDenyPrefix, jti).view());
}

}  // namespace gatehouse::auth
