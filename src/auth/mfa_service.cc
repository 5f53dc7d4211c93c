#include "auth/mfa_service.h"

#include <future>
#include <memory>

#include "auth/qr_code.h"
#include "core/mask.h"
#include "crypto/constant_time.h"
#include "crypto/encoding.h"
#include "crypto/hash.h"
#include "crypto/random.h"

namespace gatehouse::auth {
namespace {

using audit::EventType;
using audit::Severity;

constexpr std::string_view kTicketPrefix = "ght_";
constexpr std::size_t kTicketBytes = 32;
// v2 adds the first factor; v1 tickets (from an instance not yet upgraded, at most
// ticket_ttl old) had a password before them.
constexpr std::string_view kTicketFormat = "v2";
constexpr std::string_view kTicketFormatV1 = "v1";
constexpr std::size_t kMaxCodeBytes = 64;
constexpr std::size_t kBackupCodeLength = 16;
// RFC 4648 base32 in lower case: 5 bits a character, 80 bits a code. No 0/1/8/9, so a code
// read aloud or copied by hand has no O/0 or I/1 confusion.
constexpr std::string_view kBackupAlphabet = "abcdefghijklmnopqrstuvwxyz234567";
constexpr unsigned kSmsDigits = 6;
constexpr std::string_view kLoginPurpose = "login";
constexpr std::string_view kEnrolPurpose = "enrol";
constexpr int kMaxSmsWaiters = 1;

Error InvalidTicket(std::string detail) {
  return Error(ErrorCode::kUnauthenticated, "invalid or expired ticket", std::move(detail));
}

Error InvalidCode(std::string detail) {
  return Error(ErrorCode::kUnauthenticated, "invalid code", std::move(detail));
}

std::string ReplaceAll(std::string text, std::string_view from, std::string_view to) {
  for (std::size_t at = text.find(from); at != std::string::npos;
       at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

// "abcd-efgh-ijkl-mnop": groups of four are easier to copy from paper.
std::string FormatBackupCode(std::string_view code) {
  std::string out;
  for (std::size_t i = 0; i < code.size(); ++i) {
    if (i > 0 && i % 4 == 0) out += '-';
    out += code[i];
  }
  return out;
}

std::string UsedStepKey(std::string_view account_id, std::uint64_t step) {
  return "mfa:totp:" + std::string(account_id) + ":" + std::to_string(step);
}

std::string SmsCodeKey(std::string_view purpose, std::string_view account_id) {
  return "mfa:sms:" + std::string(purpose) + ":" + std::string(account_id);
}

}  // namespace

Status ValidateMfaSettings(const MfaSettings& settings) {
  GH_RETURN_IF_ERROR(ValidateTotpParams(settings.totp));
  if (settings.issuer.empty() || settings.issuer.size() > 64) {
    return InvalidArgument("the MFA issuer must be 1..64 bytes");
  }
  for (unsigned char ch : settings.issuer) {
    // The key URI label is "issuer:account": a colon in the issuer would split it wrongly.
    if (ch < 0x20 || ch == 0x7f || ch == ':') {
      return InvalidArgument("the MFA issuer must not contain ':' or control characters");
    }
  }
  if (settings.backup_code_count < 1 || settings.backup_code_count > 100) {
    return InvalidArgument("the backup code count must be 1..100");
  }
  if (settings.ticket_ttl.count() < 30 || settings.ticket_ttl.count() > 3600) {
    return InvalidArgument("the MFA ticket lifetime must be 30..3600 seconds");
  }
  if (settings.sms_code_ttl.count() < 30 || settings.sms_code_ttl.count() > 3600) {
    return InvalidArgument("the SMS code lifetime must be 30..3600 seconds");
  }
  if (settings.sms_per_number_limit < 1 || settings.sms_per_number_limit > 100) {
    return InvalidArgument("the SMS per-number limit must be 1..100");
  }
  if (settings.sms_per_number_window.count() < 1 ||
      settings.sms_per_number_window > std::chrono::hours(24)) {
    return InvalidArgument("the SMS per-number window must be 1 s .. 24 h");
  }
  if (settings.sms_message.find("${code}") == std::string::npos) {
    return InvalidArgument("the SMS message must contain ${code}");
  }
  if (settings.sms_answer_wait.count() < 0 || settings.sms_answer_wait > std::chrono::minutes(1)) {
    return InvalidArgument("the SMS answer wait must be 0 ms .. 1 min");
  }
  return Ok();
}

std::string_view SecondFactorMethodName(SecondFactorMethod method) {
  switch (method) {
    case SecondFactorMethod::kTotp:
      return "totp";
    case SecondFactorMethod::kSms:
      return "sms";
    case SecondFactorMethod::kBackupCode:
      return "backup_code";
  }
  return "totp";
}

std::optional<SecondFactorMethod> ParseSecondFactorMethod(std::string_view name) {
  for (auto m :
       {SecondFactorMethod::kTotp, SecondFactorMethod::kSms, SecondFactorMethod::kBackupCode}) {
    if (SecondFactorMethodName(m) == name) return m;
  }
  return std::nullopt;
}

std::vector<std::string> AmrFor(SecondFactorMethod method, std::string_view first_factor) {
  const std::string first(first_factor);
  switch (method) {
    case SecondFactorMethod::kTotp:
      return {first, "otp", "mfa"};
    case SecondFactorMethod::kSms:
      return {first, "sms", "mfa"};
    case SecondFactorMethod::kBackupCode:
      return {first, "backup_code", "mfa"};
  }
  return {first, "mfa"};
}

std::optional<CodeShape> ClassifyCode(std::string_view code, unsigned totp_digits,
                                      std::string* normalised) {
  if (code.size() > kMaxCodeBytes) return std::nullopt;
  std::string out;
  bool digits_only = true;
  for (char ch : code) {
    if (ch == ' ' || ch == '-') continue;
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
    if (ch < '0' || ch > '9') digits_only = false;
    out += ch;
  }
  std::optional<CodeShape> shape;
  if (digits_only && (out.size() == totp_digits || out.size() == kSmsDigits)) {
    shape = CodeShape::kDigits;
  } else if (out.size() == kBackupCodeLength &&
             out.find_first_not_of(kBackupAlphabet) == std::string::npos) {
    shape = CodeShape::kBackupCode;
  }
  if (shape && normalised != nullptr) *normalised = std::move(out);
  return shape;
}

MfaService::MfaService(MfaRepository& factors, AccountRepository& accounts,
                       state::StateStore& state, audit::EventSink& events, const Clock& clock,
                       MfaSettings settings, const Secret& code_key, SmsSender* sms)
    : factors_(factors),
      accounts_(accounts),
      state_(state),
      events_(events),
      clock_(clock),
      settings_(std::move(settings)),
      code_key_(code_key.bytes()),
      sms_(sms) {}

std::string MfaService::TicketKey(std::string_view ticket) {
  const crypto::Sha256Digest digest = crypto::Sha256(ticket);
  return "mfa:ticket:" +
         crypto::HexEncode(std::span<const std::uint8_t>(digest.data(), digest.size()));
}

std::string MfaService::CodeHash(std::string_view purpose, std::string_view account_id,
                                 std::string_view code) const {
  // Keyed: a 6-digit code has only a million values, so an unkeyed hash in Redis would be
  // reversed at once by anyone who can read it.
  const crypto::Sha256Digest digest = code_key_.Compute(
      std::string(purpose) + "\n" + std::string(account_id) + "\n" + std::string(code));
  return crypto::HexEncode(std::span<const std::uint8_t>(digest.data(), digest.size()));
}

void MfaService::Emit(EventType type, Severity severity, const RequestContext& ctx,
                      std::string_view account_id, std::string_view reason,
                      std::vector<std::pair<std::string, std::string>> attributes) {
  audit::SecurityEvent event;
  event.type = type;
  event.severity = severity;
  event.time = clock_.Now();
  event.request_id = ctx.request_id;
  event.user_id = std::string(account_id);
  event.client_ip = ctx.client_ip;
  event.reason = std::string(reason);
  event.attributes = std::move(attributes);
  events_.Emit(event);
}

Result<std::vector<std::string>> MfaService::ActiveMethods(std::string_view account_id) {
  std::vector<std::string> methods;
  auto totp = factors_.Find(account_id, FactorKind::kTotp);
  if (!totp.ok()) return std::move(totp).error();
  if (*totp && (*totp)->active) {
    methods.emplace_back(SecondFactorMethodName(SecondFactorMethod::kTotp));
  }
  // An SMS factor counts even when this server cannot send texts (sending then answers
  // 404): dropping the requirement after a configuration change would let a password alone
  // sign in.
  auto sms = factors_.Find(account_id, FactorKind::kSms);
  if (!sms.ok()) return std::move(sms).error();
  if (*sms && (*sms)->active) {
    methods.emplace_back(SecondFactorMethodName(SecondFactorMethod::kSms));
  }
  if (methods.empty()) return methods;

  auto left = factors_.BackupCodesLeft(account_id);
  if (!left.ok()) return std::move(left).error();
  if (*left > 0) methods.emplace_back(SecondFactorMethodName(SecondFactorMethod::kBackupCode));
  return methods;
}

Result<std::optional<SecondFactorChallenge>> MfaService::ChallengeFor(
    const Account& account, const RequestContext& ctx, std::string_view first_factor) {
  // The first factor goes into the ticket's value, one line of [a-z]: nothing else.
  if (first_factor.empty() || first_factor.size() > 16 ||
      first_factor.find_first_not_of("abcdefghijklmnopqrstuvwxyz") != std::string_view::npos) {
    return Internal("first factor is not an amr value");
  }
  auto methods = ActiveMethods(account.id);
  if (!methods.ok()) return std::move(methods).error();
  if (methods->empty()) return std::optional<SecondFactorChallenge>();

  SecondFactorChallenge challenge;
  challenge.ticket = Secret(std::string(kTicketPrefix) + crypto::RandomToken(kTicketBytes));
  challenge.methods = std::move(*methods);
  challenge.expires_in = settings_.ticket_ttl;
  // Only the ticket's hash is a key, and the value binds the account, the first factor and
  // the device that gave it: a ticket carried to another device is refused.
  const std::string value = std::string(kTicketFormat) + "\n" + account.id + "\n" +
                            std::string(first_factor) + "\n" + ctx.fingerprint;
  GH_RETURN_IF_ERROR(state_.Set(TicketKey(challenge.ticket.reveal()), value, settings_.ticket_ttl));
  return std::optional<SecondFactorChallenge>(std::move(challenge));
}

Result<TicketHolder> MfaService::PeekTicket(std::string_view ticket, const RequestContext& ctx) {
  if (!ticket.starts_with(kTicketPrefix) || ticket.size() > 128) {
    return InvalidTicket("ticket has the wrong form");
  }
  auto value = state_.Get(TicketKey(ticket));
  if (!value.ok()) return std::move(value).error();
  if (!*value) return InvalidTicket("ticket unknown, expired or spent");

  const std::string& text = **value;
  const std::size_t first = text.find('\n');
  const std::size_t second = first == std::string::npos ? first : text.find('\n', first + 1);
  const bool v1 = first != std::string::npos && text.substr(0, first) == kTicketFormatV1;
  const std::size_t third =
      v1 || second == std::string::npos ? second : text.find('\n', second + 1);
  if (third == std::string::npos || (!v1 && text.substr(0, first) != kTicketFormat)) {
    return Internal("malformed MFA ticket in the state store");
  }
  TicketHolder holder;
  holder.account_id = text.substr(first + 1, second - first - 1);
  holder.first_factor = v1 ? "pwd" : text.substr(second + 1, third - second - 1);
  const std::string_view fingerprint = std::string_view(text).substr(third + 1);
  if (!crypto::ConstantTimeEquals(fingerprint, ctx.fingerprint)) {
    return InvalidTicket("ticket presented by another device");
  }
  auto account = accounts_.FindById(holder.account_id);
  if (!account.ok()) return std::move(account).error();
  if (!*account) return InvalidTicket("account of the ticket is gone");
  holder.email = (*account)->email;
  return holder;
}

Result<std::string> MfaService::AccountEmail(std::string_view account_id) {
  auto account = accounts_.FindById(account_id);
  if (!account.ok()) return std::move(account).error();
  if (!*account) return Error(ErrorCode::kUnauthenticated, "invalid token", "account is gone");
  return (*account)->email;
}

Result<MfaOverview> MfaService::Overview(std::string_view account_id) {
  MfaOverview overview;
  auto totp = factors_.Find(account_id, FactorKind::kTotp);
  if (!totp.ok()) return std::move(totp).error();
  if (*totp) {
    overview.totp_active = (*totp)->active;
    overview.totp_pending = !(*totp)->active;
  }
  auto sms = factors_.Find(account_id, FactorKind::kSms);
  if (!sms.ok()) return std::move(sms).error();
  if (*sms) {
    overview.sms_active = (*sms)->active;
    overview.sms_pending = !(*sms)->active;
    overview.phone_masked = core::MaskPhone((*sms)->value.reveal());
  }
  auto left = factors_.BackupCodesLeft(account_id);
  if (!left.ok()) return std::move(left).error();
  overview.backup_codes_left = *left;
  auto methods = ActiveMethods(account_id);
  if (!methods.ok()) return std::move(methods).error();
  overview.methods = std::move(*methods);
  return overview;
}

// ---- TOTP ------------------------------------------------------------------------------------

Result<TotpEnrolment> MfaService::BeginTotp(std::string_view account_id,
                                            const RequestContext& ctx) {
  auto account = accounts_.FindById(account_id);
  if (!account.ok()) return std::move(account).error();
  if (!*account) return NotFound("account not found");

  const Secret secret = NewTotpSecret();
  auto saved = factors_.SavePending(account_id, FactorKind::kTotp, secret);
  if (!saved.ok()) return std::move(saved).error();

  TotpEnrolment enrolment;
  std::string base32 = Base32Encode(secret.bytes());
  if (base32.empty()) return Internal("base32 encoding of the TOTP secret failed");
  std::string uri = OtpauthUri(settings_.issuer, (*account)->email, base32, settings_.totp);
  auto matrix = EncodeQr(uri);
  if (!matrix.ok()) return std::move(matrix).error();
  enrolment.qr_svg = QrSvg(*matrix);
  auto png = QrPng(*matrix);
  if (!png.ok()) return std::move(png).error();
  enrolment.qr_png = std::move(*png);
  enrolment.secret_base32 = Secret(base32);
  enrolment.otpauth_uri = Secret(uri);
  SecureWipe(base32);
  SecureWipe(uri);

  Emit(EventType::kMfaChange, Severity::kInfo, ctx, account_id, "totp_enrolment_started");
  return enrolment;
}

Result<bool> MfaService::AcceptTotp(std::string_view account_id, const Secret& secret,
                                    std::string_view code, const RequestContext& ctx) {
  const auto now = clock_.Now();
  auto matched = MatchTotp(secret, code, now, settings_.totp);
  if (!matched.ok()) return std::move(matched).error();
  if (!*matched) return false;
  const std::uint64_t step = **matched;

  // RFC 6238 section 5.2: a code is accepted once. A step stays acceptable for at most
  // 2 * window + 1 periods, so its marker lives two windows and two periods.
  const auto marker_ttl = std::chrono::duration_cast<std::chrono::milliseconds>(
      settings_.totp.period * (2 * settings_.totp.window + 2));
  // An older code is refused once a later one was used: whoever holds it saw it before the
  // owner's last sign-in, which is what a phishing relay or a shoulder-surfer has.
  const std::uint64_t last = TotpStep(now, settings_.totp.period) + settings_.totp.window;
  for (std::uint64_t later = step + 1; later <= last; ++later) {
    auto used = state_.Exists(UsedStepKey(account_id, later));
    if (!used.ok()) return std::move(used).error();
    if (*used) {
      Emit(EventType::kLoginFailure, Severity::kMedium, ctx, account_id, "otp_replay",
           {{"kind", "older_step"}});
      return false;
    }
  }
  auto first_use = state_.SetIfAbsent(UsedStepKey(account_id, step), "1", marker_ttl);
  if (!first_use.ok()) return std::move(first_use).error();
  if (!*first_use) {
    Emit(EventType::kLoginFailure, Severity::kMedium, ctx, account_id, "otp_replay",
         {{"kind", "same_step"}});
    return false;
  }
  return true;
}

Result<std::vector<std::string>> MfaService::ConfirmTotp(std::string_view account_id,
                                                         std::string_view code,
                                                         const RequestContext& ctx) {
  auto factor = factors_.Find(account_id, FactorKind::kTotp);
  if (!factor.ok()) return std::move(factor).error();
  if (!*factor || (*factor)->active) {
    return Error(ErrorCode::kFailedPrecondition,
                 "no TOTP enrolment is pending; start one with POST /v1/me/mfa/totp");
  }
  auto accepted = AcceptTotp(account_id, (*factor)->value, code, ctx);
  if (!accepted.ok()) return std::move(accepted).error();
  if (!*accepted) {
    Emit(EventType::kLoginFailure, Severity::kLow, ctx, account_id, "wrong_second_factor",
         {{"method", "totp"}, {"stage", "enrolment"}});
    return InvalidCode("wrong TOTP code at enrolment");
  }
  auto activated = factors_.Activate(account_id, (*factor)->id);
  if (!activated.ok()) return std::move(activated).error();
  if (!*activated) {
    return Error(ErrorCode::kFailedPrecondition, "the TOTP enrolment changed; start again");
  }
  auto codes = BackupCodesIfNone(account_id);
  if (!codes.ok()) return std::move(codes).error();
  Emit(EventType::kMfaChange, Severity::kLow, ctx, account_id, "totp_enabled",
       {{"backup_codes_issued", std::to_string(codes->size())}});
  return codes;
}

Status MfaService::CheckTotp(std::string_view account_id, std::string_view code,
                             const RequestContext& ctx) {
  auto factor = factors_.Find(account_id, FactorKind::kTotp);
  if (!factor.ok()) return std::move(factor).error();
  if (!*factor || !(*factor)->active) {
    return Error(ErrorCode::kFailedPrecondition, "TOTP is not enabled");
  }
  auto accepted = AcceptTotp(account_id, (*factor)->value, code, ctx);
  if (!accepted.ok()) return std::move(accepted).error();
  if (!*accepted) {
    Emit(EventType::kLoginFailure, Severity::kLow, ctx, account_id, "wrong_second_factor",
         {{"method", "totp"}, {"stage", "reauthentication"}});
    return InvalidCode("wrong TOTP code");
  }
  return Ok();
}

Status MfaService::DisableTotp(std::string_view account_id, const RequestContext& ctx) {
  auto removed = factors_.Remove(account_id, FactorKind::kTotp);
  if (!removed.ok()) return std::move(removed).error();
  if (!*removed) return NotFound("TOTP is not enabled");
  GH_RETURN_IF_ERROR(ForgetBackupCodesIfNoFactor(account_id));
  Emit(EventType::kMfaChange, Severity::kMedium, ctx, account_id, "totp_disabled");
  return Ok();
}

// ---- backup codes ----------------------------------------------------------------------------

Result<std::vector<std::string>> MfaService::IssueBackupCodes(std::string_view account_id) {
  std::vector<std::string> shown;
  std::vector<std::string> hashes;
  for (unsigned i = 0; i < settings_.backup_code_count; ++i) {
    std::string code;
    for (std::size_t c = 0; c < kBackupCodeLength; ++c) {
      code += kBackupAlphabet[crypto::RandomBelow(kBackupAlphabet.size())];
    }
    hashes.push_back(MfaRepository::BackupCodeHash(account_id, code));
    shown.push_back(FormatBackupCode(code));
    SecureWipe(code);
  }
  GH_RETURN_IF_ERROR(factors_.ReplaceBackupCodes(account_id, hashes));
  return shown;
}

Result<std::vector<std::string>> MfaService::BackupCodesIfNone(std::string_view account_id) {
  auto left = factors_.BackupCodesLeft(account_id);
  if (!left.ok()) return std::move(left).error();
  if (*left > 0) return std::vector<std::string>();
  return IssueBackupCodes(account_id);
}

Status MfaService::ForgetBackupCodesIfNoFactor(std::string_view account_id) {
  for (FactorKind kind : {FactorKind::kTotp, FactorKind::kSms}) {
    auto factor = factors_.Find(account_id, kind);
    if (!factor.ok()) return std::move(factor).error();
    if (*factor && (*factor)->active) return Ok();
  }
  // Backup codes replace a factor; with none left they would only be dormant secrets.
  return factors_.RemoveBackupCodes(account_id);
}

Result<std::vector<std::string>> MfaService::RegenerateBackupCodes(std::string_view account_id,
                                                                   const RequestContext& ctx) {
  bool has_factor = false;
  for (FactorKind kind : {FactorKind::kTotp, FactorKind::kSms}) {
    auto factor = factors_.Find(account_id, kind);
    if (!factor.ok()) return std::move(factor).error();
    has_factor = has_factor || (*factor && (*factor)->active);
  }
  if (!has_factor) {
    return Error(ErrorCode::kFailedPrecondition,
                 "enable a second factor (TOTP or SMS) before creating backup codes");
  }
  auto codes = IssueBackupCodes(account_id);
  if (!codes.ok()) return std::move(codes).error();
  Emit(EventType::kMfaChange, Severity::kLow, ctx, account_id, "backup_codes_regenerated",
       {{"count", std::to_string(codes->size())}});
  return codes;
}

// ---- SMS -------------------------------------------------------------------------------------

Result<SmsDispatch> MfaService::Dispatch(std::string_view purpose, std::string_view account_id,
                                         std::string_view phone) {
  SmsDispatch dispatch;
  dispatch.phone_masked = core::MaskPhone(phone);
  dispatch.expires_in = settings_.sms_code_ttl;

  // Per number, not per account: several accounts naming one victim's number must not
  // turn this service into a way to flood it.
  const crypto::Sha256Digest number = code_key_.Compute("phone\n" + std::string(phone));
  const std::string rate_key =
      "mfa:smsrate:" + crypto::HexEncode(std::span<const std::uint8_t>(number.data(), 16));
  auto sent = state_.Increment(
      rate_key, 1,
      std::chrono::duration_cast<std::chrono::milliseconds>(settings_.sms_per_number_window));
  if (!sent.ok()) return std::move(sent).error();
  if (*sent > static_cast<std::int64_t>(settings_.sms_per_number_limit)) {
    auto ttl = state_.Ttl(rate_key);
    if (!ttl.ok()) return std::move(ttl).error();
    dispatch.state = SmsDispatch::State::kRateLimited;
    const auto left = ttl->value_or(std::chrono::milliseconds(1000));
    dispatch.retry_after = std::chrono::ceil<std::chrono::seconds>(left);
    return dispatch;
  }

  std::string code(kSmsDigits, '0');
  std::uint64_t value = crypto::RandomBelow(1'000'000);
  for (std::size_t i = kSmsDigits; i-- > 0; value /= 10) {
    code[i] = static_cast<char>('0' + value % 10);
  }
  // A new code replaces the previous one for the same purpose, so only the latest text works.
  GH_RETURN_IF_ERROR(
      state_.Set(SmsCodeKey(purpose, account_id), CodeHash(purpose, account_id, code),
                 std::chrono::duration_cast<std::chrono::milliseconds>(settings_.sms_code_ttl)));

  std::string text =
      ReplaceAll(ReplaceAll(settings_.sms_message, "${issuer}", settings_.issuer), "${code}", code);
  SmsMessage message{std::string(phone), Secret(text)};
  SecureWipe(text);
  SecureWipe(code);

  // The sender works on its own thread; this request waits a bounded time for the outcome
  // so the user hears about a failure, and is told "queued" when retries run longer.
  auto promise = std::make_shared<std::promise<Status>>();
  std::future<Status> outcome = promise->get_future();
  if (!sms_->Send(std::move(message), [promise](Status s) { promise->set_value(std::move(s)); })) {
    (void)state_.Delete(SmsCodeKey(purpose, account_id));
    return Unavailable("text messages cannot be sent right now; try again later",
                       "SMS sender queue full or stopping");
  }
  // At most one request worker waits for a provider at a time: a slow provider must not
  // pin the whole pool. The others answer "queued" at once; their failures are still logged.
  if (sms_waiters_.fetch_add(1) >= kMaxSmsWaiters) {
    sms_waiters_.fetch_sub(1);
    dispatch.state = SmsDispatch::State::kQueued;
    return dispatch;
  }
  const bool ready = outcome.wait_for(settings_.sms_answer_wait) == std::future_status::ready;
  sms_waiters_.fetch_sub(1);
  if (!ready) {
    dispatch.state = SmsDispatch::State::kQueued;
    return dispatch;
  }
  Status delivered = outcome.get();
  if (!delivered.ok()) {
    // The code never reached the phone; keeping it would only leave a guessable target.
    (void)state_.Delete(SmsCodeKey(purpose, account_id));
    return Unavailable(
        "the text message could not be delivered; try again later or use another method",
        delivered.error().detail());
  }
  dispatch.state = SmsDispatch::State::kSent;
  return dispatch;
}

Result<bool> MfaService::AcceptSmsCode(std::string_view purpose, std::string_view account_id,
                                       std::string_view code) {
  if (code.size() != kSmsDigits) return false;
  const std::string key = SmsCodeKey(purpose, account_id);
  auto stored = state_.Get(key);
  if (!stored.ok()) return std::move(stored).error();
  if (!*stored) return false;
  const std::string expected = CodeHash(purpose, account_id, code);
  if (!crypto::ConstantTimeEquals(**stored, expected)) return false;
  // Single use: of concurrent right answers exactly one takes the code.
  auto taken = state_.Take(key);
  if (!taken.ok()) return std::move(taken).error();
  return taken->has_value() && crypto::ConstantTimeEquals(**taken, expected);
}

Result<SmsDispatch> MfaService::BeginSms(std::string_view account_id, std::string_view phone,
                                         const RequestContext& ctx) {
  if (sms_ == nullptr) return NotFound("SMS codes are not enabled on this server");
  auto saved = factors_.SavePending(account_id, FactorKind::kSms, Secret(phone));
  if (!saved.ok()) return std::move(saved).error();
  auto dispatch = Dispatch(kEnrolPurpose, account_id, phone);
  if (!dispatch.ok()) return dispatch;
  Emit(EventType::kMfaChange, Severity::kInfo, ctx, account_id, "sms_enrolment_started",
       {{"phone", core::MaskPhone(phone)}});
  return dispatch;
}

Result<std::vector<std::string>> MfaService::ConfirmSms(std::string_view account_id,
                                                        std::string_view code,
                                                        const RequestContext& ctx) {
  auto factor = factors_.Find(account_id, FactorKind::kSms);
  if (!factor.ok()) return std::move(factor).error();
  if (!*factor || (*factor)->active) {
    return Error(ErrorCode::kFailedPrecondition,
                 "no phone number is waiting for confirmation; add one with POST /v1/me/mfa/sms");
  }
  auto accepted = AcceptSmsCode(kEnrolPurpose, account_id, code);
  if (!accepted.ok()) return std::move(accepted).error();
  if (!*accepted) {
    Emit(EventType::kLoginFailure, Severity::kLow, ctx, account_id, "wrong_second_factor",
         {{"method", "sms"}, {"stage", "enrolment"}});
    return InvalidCode("wrong or expired SMS code at enrolment");
  }
  auto activated = factors_.Activate(account_id, (*factor)->id);
  if (!activated.ok()) return std::move(activated).error();
  if (!*activated) {
    return Error(ErrorCode::kFailedPrecondition, "the phone enrolment changed; start again");
  }
  auto codes = BackupCodesIfNone(account_id);
  if (!codes.ok()) return std::move(codes).error();
  Emit(EventType::kMfaChange, Severity::kLow, ctx, account_id, "sms_enabled",
       {{"phone", core::MaskPhone((*factor)->value.reveal())},
        {"backup_codes_issued", std::to_string(codes->size())}});
  return codes;
}

Status MfaService::DisableSms(std::string_view account_id, const RequestContext& ctx) {
  auto removed = factors_.Remove(account_id, FactorKind::kSms);
  if (!removed.ok()) return std::move(removed).error();
  if (!*removed) return NotFound("SMS codes are not enabled");
  GH_RETURN_IF_ERROR(ForgetBackupCodesIfNoFactor(account_id));
  Emit(EventType::kMfaChange, Severity::kMedium, ctx, account_id, "sms_disabled");
  return Ok();
}

// ---- login -----------------------------------------------------------------------------------

Result<SmsDispatch> MfaService::SendLoginCode(std::string_view ticket, const RequestContext& ctx) {
  auto holder = PeekTicket(ticket, ctx);
  if (!holder.ok()) return std::move(holder).error();
  if (sms_ == nullptr) return NotFound("SMS codes are not enabled on this server");
  auto factor = factors_.Find(holder->account_id, FactorKind::kSms);
  if (!factor.ok()) return std::move(factor).error();
  if (!*factor || !(*factor)->active) {
    return Error(ErrorCode::kFailedPrecondition, "this account has no verified phone number");
  }
  return Dispatch(kLoginPurpose, holder->account_id, (*factor)->value.reveal());
}

Result<SecondFactorPass> MfaService::Redeem(std::string_view ticket, std::string_view code,
                                            std::optional<SecondFactorMethod> method,
                                            const RequestContext& ctx) {
  std::string normalised;
  const std::optional<CodeShape> shape = ClassifyCode(code, settings_.totp.digits, &normalised);
  if (!shape) {
    return InvalidArgument("code must be the digits from the app or the text, or a backup code");
  }
  auto holder = PeekTicket(ticket, ctx);
  if (!holder.ok()) return std::move(holder).error();
  const std::string& account_id = holder->account_id;

  SecondFactorPass pass;
  pass.account_id = account_id;
  bool accepted = false;
  const bool wants_backup = method == SecondFactorMethod::kBackupCode;
  if (*shape == CodeShape::kBackupCode && (!method || wants_backup)) {
    auto used =
        factors_.UseBackupCode(account_id, MfaRepository::BackupCodeHash(account_id, normalised));
    if (!used.ok()) return std::move(used).error();
    if (*used) {
      accepted = true;
      pass.method = SecondFactorMethod::kBackupCode;
      auto left = factors_.BackupCodesLeft(account_id);
      if (!left.ok()) return std::move(left).error();
      pass.backup_codes_left = *left;
      Emit(EventType::kBackupCodeUse, Severity::kLow, ctx, account_id, "login",
           {{"codes_left", std::to_string(*left)}});
    }
  }
  if (*shape == CodeShape::kDigits && (!method || method == SecondFactorMethod::kTotp)) {
    auto totp = factors_.Find(account_id, FactorKind::kTotp);
    if (!totp.ok()) return std::move(totp).error();
    if (*totp && (*totp)->active) {
      auto ok = AcceptTotp(account_id, (*totp)->value, normalised, ctx);
      if (!ok.ok()) return std::move(ok).error();
      if (*ok) {
        accepted = true;
        pass.method = SecondFactorMethod::kTotp;
        GH_RETURN_IF_ERROR(factors_.MarkUsed((*totp)->id));
      }
    }
  }
  if (!accepted && *shape == CodeShape::kDigits && sms_ != nullptr &&
      (!method || method == SecondFactorMethod::kSms)) {
    auto ok = AcceptSmsCode(kLoginPurpose, account_id, normalised);
    if (!ok.ok()) return std::move(ok).error();
    if (*ok) {
      accepted = true;
      pass.method = SecondFactorMethod::kSms;
    }
  }
  SecureWipe(normalised);
  if (!accepted) {
    Emit(EventType::kLoginFailure, Severity::kLow, ctx, account_id, "wrong_second_factor",
         {{"stage", "login"}});
    return InvalidCode("no second factor accepted the code");
  }

  // The code was right; the ticket is spent now. Of concurrent redemptions exactly one takes
  // it, and the others are refused even though their code was right too.
  auto taken = state_.Take(TicketKey(ticket));
  if (!taken.ok()) return std::move(taken).error();
  if (!*taken) return InvalidTicket("ticket spent by a concurrent request");
  pass.amr = AmrFor(pass.method, holder->first_factor);
  return pass;
}

}  // namespace gatehouse::auth
