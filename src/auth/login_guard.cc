#include "auth/login_guard.h"

#include <boost/json.hpp>

#include "auth/email.h"
#include "auth/request_traits.h"
#include "core/mask.h"
#include "crypto/encoding.h"
#include "http/problem.h"

namespace gatehouse::auth {
namespace {

namespace json = boost::json;

std::int64_t UnixMs(const Clock& clock) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock.Now().time_since_epoch())
      .count();
}

std::string LowerAscii(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::uint64_t Seconds(std::chrono::milliseconds ms) {
  return static_cast<std::uint64_t>((ms.count() + 999) / 1000);
}

}  // namespace

LoginGuard::LoginGuard(LoginGuardParts parts, const Secret& account_key_secret)
    : parts_(std::move(parts)), account_key_(account_key_secret.bytes()) {}

std::string LoginGuard::AccountKey(std::string_view email) const {
  auto normalized = NormalizeEmail(email);
  const std::string text = normalized.ok() ? normalized->normalized : LowerAscii(email);
  crypto::Sha256Digest digest = account_key_.Compute(text);
  // 128 bits: a collision between two addresses is out of reach, and the key stays short.
  return crypto::HexEncode(std::span<const std::uint8_t>(digest.data(), 16));
}

bool LoginGuard::Exempt(std::string_view ip) const {
  if (parts_.lists == nullptr) return false;
  std::optional<protect::IpAddress> address = protect::ParseIp(ip);
  return address && parts_.lists->Decide(*address) == protect::IpListView::Verdict::kAllow;
}

protect::PowChallenge LoginGuard::IssueChallenge(const http::Request& req) const {
  return parts_.captcha->Issue("ip:" + req.client_ip);
}

http::Response LoginGuard::FailureAnswer(const http::Request& req, const Error& failure,
                                         std::chrono::milliseconds retry_after,
                                         bool captcha) const {
  http::Response response = http::MakeProblem(failure, req.request_id, /*verbose=*/false);
  json::object body = json::parse(response.body).as_object();
  if (retry_after.count() > 0) {
    body["retry_after"] = Seconds(retry_after);
    response.AddHeader("Retry-After", std::to_string(Seconds(retry_after)));
  }
  if (captcha) {
    protect::PowChallenge challenge = IssueChallenge(req);
    body["captcha_required"] = true;
    body["captcha"] = json::object{
        {"challenge", challenge.text},
        {"difficulty_bits", challenge.difficulty_bits},
        {"expires_at", std::chrono::duration_cast<std::chrono::seconds>(
                           challenge.expires_at.time_since_epoch())
                           .count()}};
  }
  response.body = json::serialize(body);
  return response;
}

Result<LoginGuard::Begun> LoginGuard::Begin(
    const http::Request& req, std::string_view email,
    const std::optional<std::pair<std::string, std::string>>& captcha) const {
  Begun out;
  out.account_key = AccountKey(email);

  // A device cookie counts only for the account it was issued for.
  std::optional<std::string> device;
  if (auto cookie = FindCookie(req, kDeviceCookie)) {
    auto verified = parts_.devices->Verify(*cookie, out.account_key);
    if (verified.ok()) device = std::move(*verified);
  }

  bool solved = false;
  if (captcha) {
    protect::PowVerdict verdict =
        parts_.captcha->Verify(captcha->first, captcha->second, "ip:" + req.client_ip);
    if (verdict.ok()) {
      solved = true;
    } else if (verdict.rejection() == protect::PowRejection::kStoreFailed) {
      GH_RETURN_IF_ERROR(verdict.ToStatus());
    }
  }

  protect::AttemptRequest request;
  request.account_key = out.account_key;
  request.ip = req.client_ip;
  request.factor = protect::Factor::kPassword;
  if (device) request.device_id = *device;
  request.captcha_solved = solved;
  request.ip_block_exempt = Exempt(req.client_ip);
  auto admission = parts_.guard->Begin(request);
  if (!admission.ok()) return std::move(admission).error();
  if (admission->allowed) {
    out.attempt = std::move(admission->attempt);
    return out;
  }
  const bool captcha_needed = admission->captcha_required ||
                              admission->refusal == protect::Refusal::kCaptchaRequired;
  out.refusal = FailureAnswer(req, Error(ErrorCode::kUnauthenticated, "invalid email or password"),
                              admission->retry_after, captcha_needed);
  return out;
}

Result<std::string> LoginGuard::Succeeded(protect::Attempt attempt,
                                          std::string_view account_key) const {
  GH_RETURN_IF_ERROR(parts_.guard->RecordSuccess(std::move(attempt)));
  return DeviceCookie(account_key);
}

Result<http::Response> LoginGuard::Failed(const http::Request& req, protect::Attempt attempt,
                                          std::string_view email, std::string_view account_key,
                                          const Error& failure) const {
  return Record(req, std::move(attempt), email, account_key, failure, /*offer_captcha=*/true);
}

Result<http::Response> LoginGuard::Record(const http::Request& req, protect::Attempt attempt,
                                          std::string_view email, std::string_view account_key,
                                          const Error& failure, bool offer_captcha) const {
  const protect::LockScope scope = attempt.scope();
  const bool second_factor = attempt.factor() == protect::Factor::kSecondFactor;
  auto outcome = parts_.guard->RecordFailure(std::move(attempt));
  if (!outcome.ok()) return std::move(outcome).error();
  const std::int64_t now_ms = UnixMs(*parts_.clock);

  if (outcome->lock_started) {
    audit::SecurityEvent event;
    event.type = audit::EventType::kAccountLockout;
    event.severity = audit::Severity::kMedium;
    event.time = parts_.clock->Now();
    event.request_id = req.request_id;
    event.client_ip = req.client_ip;
    event.reason = "too_many_failures";
    event.attributes = {{"email", core::MaskEmail(email)},
                        {"scope", second_factor                          ? "second_factor"
                                  : scope == protect::LockScope::kDevice ? "device"
                                                                         : "account"},
                        {"failures", std::to_string(outcome->failures)},
                        {"lock_s", std::to_string(Seconds(outcome->retry_after))}};
    parts_.events->Emit(event);
    // Device locks end with their device; the registry lists what an admin may lift.
    if (parts_.registry != nullptr && scope == protect::LockScope::kAccount) {
      (void)parts_.registry->RecordBlock({.kind = protect::BlockKind::kAccount,
                                         .subject = std::string(account_key),
                                         .label = core::MaskEmail(email),
                                         .until_ms = now_ms + outcome->retry_after.count()});
    }
  }
  if (outcome->ip_block_started) {
    audit::SecurityEvent event;
    event.type = audit::EventType::kIpBlock;
    event.severity = audit::Severity::kHigh;
    event.time = parts_.clock->Now();
    event.request_id = req.request_id;
    event.client_ip = req.client_ip;
    event.reason = "failures_across_accounts";
    event.attributes = {{"block_s", std::to_string(Seconds(outcome->ip_block_duration))},
                        {"repeat", std::to_string(outcome->ip_block_count)}};
    parts_.events->Emit(event);
    if (parts_.on_ip_block) parts_.on_ip_block(outcome->ip_block_duration);
    if (parts_.registry != nullptr) {
      (void)parts_.registry->RecordBlock(
          {.kind = protect::BlockKind::kIp,
           .subject = req.client_ip,
           .label = req.client_ip,
           .until_ms = now_ms + outcome->ip_block_duration.count()});
    }
  }
  const bool captcha = offer_captcha && outcome->failures >= parts_.guard->options().captcha_after;
  return FailureAnswer(req, failure, outcome->retry_after, captcha);
}

Status LoginGuard::PasswordAccepted(protect::Attempt attempt) const {
  return parts_.guard->RecordSuccess(std::move(attempt));
}

Result<std::string> LoginGuard::DeviceCookie(std::string_view account_key) const {
  auto cookie = parts_.devices->Issue(account_key);
  if (!cookie.ok()) return std::move(cookie).error();
  return std::string(kDeviceCookie) + "=" + *cookie +
         "; Max-Age=" + std::to_string(parts_.device_cookie_max_age.count()) +
         "; Path=/; Secure; HttpOnly; SameSite=Strict";
}

Result<LoginGuard::Begun> LoginGuard::BeginSecondFactor(const http::Request& req,
                                                        std::string_view account_key) const {
  Begun out;
  out.account_key = std::string(account_key);
  protect::AttemptRequest request;
  request.account_key = out.account_key;
  request.ip = req.client_ip;
  request.factor = protect::Factor::kSecondFactor;
  // See the header: the password step passed the CAPTCHA gate; the lock is the bound here.
  request.captcha_solved = true;
  request.ip_block_exempt = Exempt(req.client_ip);
  auto admission = parts_.guard->Begin(request);
  if (!admission.ok()) return std::move(admission).error();
  if (admission->allowed) {
    out.attempt = std::move(admission->attempt);
    return out;
  }
  out.refusal = FailureAnswer(
      req, Error(ErrorCode::kResourceExhausted, "too many wrong codes; try again later"),
      admission->retry_after, /*captcha=*/false);
  return out;
}

Result<http::Response> LoginGuard::SecondFactorFailed(const http::Request& req,
                                                      protect::Attempt attempt,
                                                      std::string_view email,
                                                      std::string_view account_key,
                                                      const Error& failure) const {
  return Record(req, std::move(attempt), email, account_key, failure, /*offer_captcha=*/false);
}

Status LoginGuard::SecondFactorSucceeded(protect::Attempt attempt) const {
  return parts_.guard->RecordSuccess(std::move(attempt));
}

void LoginGuard::Abandoned(protect::Attempt attempt) const {
  (void)parts_.guard->Release(std::move(attempt));
}

}  // namespace gatehouse::auth
