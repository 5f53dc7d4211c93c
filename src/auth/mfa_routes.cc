// The HTTP face of second factors (docs/mfa.md):
//
//   GET    /v1/me/mfa                   enrolled methods, backup codes left       200
//   POST   /v1/me/mfa/totp              pending TOTP secret: URI, SVG, PNG         201
//   POST   /v1/me/mfa/totp/confirm      {"code"}: activate (+ backup codes)        200
//   DELETE /v1/me/mfa/totp              {"code"} or {"password"}                   204
//   POST   /v1/me/mfa/backup-codes      {"code"} or {"password"}: a new set        200
//   POST   /v1/me/mfa/sms               {"phone"}: pending number, code texted     200 / 202
//   POST   /v1/me/mfa/sms/confirm       {"code"}: activate (+ backup codes)        200
//   DELETE /v1/me/mfa/sms               {"password"}                               204
//   POST   /v1/auth/mfa/sms             {"ticket"}: text a login code              200 / 202
//   POST   /v1/auth/mfa/verify          {"ticket", "code", "method"?}: the grant   200
//
// Every code check is one attempt on the account's second-factor counter of the brute-force
// guard; bad input is refused (400) before any attempt is counted.

#include <functional>

#include <boost/json.hpp>

#include "auth/login_guard.h"
#include "auth/mfa_service.h"
#include "auth/route_support.h"
#include "auth/routes.h"
#include "crypto/encoding.h"
#include "http/json_body.h"
#include "http/problem.h"

namespace gatehouse::auth {
namespace {

using http::Method;
using http::Request;
using http::Response;
using http::RouteParams;
namespace json = boost::json;

struct MfaShared {
  std::shared_ptr<const RouteShared> base;
  MfaService& mfa;
};

constexpr std::size_t kMaxCodeBytes = 64;

Status CheckCodeText(std::string_view code) {
  if (code.empty() || code.size() > kMaxCodeBytes) {
    return InvalidArgument("code must be 1 to 64 characters");
  }
  return Ok();
}

json::array CodesJson(const std::vector<std::string>& codes) {
  json::array out;
  for (const std::string& c : codes) out.emplace_back(c);
  return out;
}

// Runs `check` as one second-factor attempt of the account with `email`. nullopt when the
// code was right; otherwise the answer to send (a 401 for a wrong code, a 429 while locked).
// Errors other than a wrong code release the attempt and are returned.
Result<std::optional<Response>> Guarded(const Request& req, const RouteShared& shared,
                                        std::string_view email,
                                        const std::function<Status()>& check) {
  const LoginGuard* guard = shared.options.login_guard;
  if (guard == nullptr) {
    GH_RETURN_IF_ERROR(check());
    return std::optional<Response>();
  }
  const std::string account_key = guard->AccountKey(email);
  auto begun = guard->BeginSecondFactor(req, account_key);
  if (!begun.ok()) return std::move(begun).error();
  if (begun->refusal) return std::optional<Response>(std::move(*begun->refusal));

  Status checked = check();
  if (!checked.ok()) {
    if (checked.error().code() != ErrorCode::kUnauthenticated) {
      guard->Abandoned(std::move(*begun->attempt));
      return std::move(checked).error();
    }
    auto answer = guard->SecondFactorFailed(req, std::move(*begun->attempt), email, account_key,
                                            checked.error());
    if (!answer.ok()) return std::move(answer).error();
    return std::optional<Response>(std::move(*answer));
  }
  GH_RETURN_IF_ERROR(guard->SecondFactorSucceeded(std::move(*begun->attempt)));
  return std::optional<Response>();
}

// Proof that the signed-in person is the account holder, for changes an attacker holding
// only a stolen session must not make: a current TOTP code or the password, exactly one.
Result<std::optional<Response>> Reauthenticate(const Request& req, const MfaShared& shared,
                                               const Caller& caller, const json::object& body,
                                               bool allow_code) {
  const bool has_code = body.contains("code");
  const bool has_password = body.contains("password");
  if (has_code == has_password || (has_code && !allow_code)) {
    return InvalidArgument(allow_code ? "send exactly one of code (from the app) or password"
                                      : "send the password");
  }
  if (has_password) {
    GH_RETURN_IF_ERROR(shared.base->service.VerifyCurrentPassword(
        *caller.principal, Text(body, "password"), caller.ctx));
    return std::optional<Response>();
  }
  GH_RETURN_IF_ERROR(CheckCodeText(Text(body, "code")));
  auto email = shared.mfa.AccountEmail(caller.principal->account_id);
  if (!email.ok()) return std::move(email).error();
  return Guarded(req, *shared.base, *email, [&]() {
    return shared.mfa.CheckTotp(caller.principal->account_id, Text(body, "code"), caller.ctx);
  });
}

// A text that could not be sent is a 503 the user can act on: try again in a while, or use
// another method. RFC 9110 section 15.6.4: a 503 says when to come back.
Result<Response> DispatchFailed(const Request& req, Error error) {
  if (error.code() != ErrorCode::kUnavailable) return error;
  Response response = http::MakeProblem(error, req.request_id, /*verbose=*/false);
  response.AddHeader("Retry-After", "30");
  NoStore(response);
  return response;
}

Result<Response> DispatchAnswer(const Request& req, const SmsDispatch& dispatch) {
  if (dispatch.state == SmsDispatch::State::kRateLimited) {
    Response response =
        http::MakeProblem(Error(ErrorCode::kResourceExhausted,
                                "too many codes were sent to this number; try again later"),
                          req.request_id, /*verbose=*/false);
    response.AddHeader("Retry-After", std::to_string(dispatch.retry_after.count()));
    NoStore(response);
    return response;
  }
  const bool sent = dispatch.state == SmsDispatch::State::kSent;
  return JsonAnswer(sent ? 200 : 202, json::object{{"status", sent ? "sent" : "queued"},
                                                   {"phone", dispatch.phone_masked},
                                                   {"expires_in", dispatch.expires_in.count()}});
}

// ---- signed-in routes ------------------------------------------------------------------------

Result<Response> Overview(Request& req, const MfaShared& shared) {
  auto caller = SignedInCaller(req, *shared.base);
  if (!caller.ok()) return std::move(caller).error();
  if (caller->refusal) return std::move(*caller->refusal);
  auto overview = shared.mfa.Overview(caller->principal->account_id);
  if (!overview.ok()) return std::move(overview).error();
  json::array methods;
  for (const std::string& m : overview->methods) methods.emplace_back(m);
  json::object sms{{"enabled", overview->sms_active}, {"pending", overview->sms_pending}};
  if (!overview->phone_masked.empty()) sms["phone"] = overview->phone_masked;
  return JsonAnswer(200, json::object{{"totp", json::object{{"enabled", overview->totp_active},
                                                            {"pending", overview->totp_pending}}},
                                      {"sms", std::move(sms)},
                                      {"sms_available", shared.mfa.sms_available()},
                                      {"backup_codes_left", overview->backup_codes_left},
                                      {"methods", std::move(methods)}});
}

Result<Response> BeginTotp(Request& req, const MfaShared& shared) {
  auto caller = SignedInCaller(req, *shared.base);
  if (!caller.ok()) return std::move(caller).error();
  if (caller->refusal) return std::move(*caller->refusal);
  auto enrolment = shared.mfa.BeginTotp(caller->principal->account_id, caller->ctx);
  if (!enrolment.ok()) return std::move(enrolment).error();
  const TotpParams& totp = shared.mfa.settings().totp;
  return JsonAnswer(
      201, json::object{{"otpauth_uri", enrolment->otpauth_uri.reveal()},
                        {"secret", enrolment->secret_base32.reveal()},
                        {"issuer", shared.mfa.settings().issuer},
                        {"algorithm", OtpAlgorithmName(totp.algorithm)},
                        {"digits", totp.digits},
                        {"period", totp.period.count()},
                        {"qr_svg", enrolment->qr_svg},
                        {"qr_png", crypto::Base64Encode(std::span<const std::uint8_t>(
                                       enrolment->qr_png.data(), enrolment->qr_png.size()))}});
}

Result<Response> ConfirmTotp(Request& req, const MfaShared& shared) {
  auto caller = SignedInCaller(req, *shared.base);
  if (!caller.ok()) return std::move(caller).error();
  if (caller->refusal) return std::move(*caller->refusal);
  auto body = ReadBody(req, *shared.base);
  if (!body.ok()) return std::move(body).error();
  GH_RETURN_IF_ERROR(http::JsonFields().Required("code", http::JsonType::kString).Check(*body));
  GH_RETURN_IF_ERROR(CheckCodeText(Text(*body, "code")));
  auto email = shared.mfa.AccountEmail(caller->principal->account_id);
  if (!email.ok()) return std::move(email).error();

  std::vector<std::string> codes;
  auto answer = Guarded(req, *shared.base, *email, [&]() -> Status {
    auto confirmed =
        shared.mfa.ConfirmTotp(caller->principal->account_id, Text(*body, "code"), caller->ctx);
    if (!confirmed.ok()) return std::move(confirmed).error();
    codes = std::move(*confirmed);
    return Ok();
  });
  if (!answer.ok()) return std::move(answer).error();
  if (*answer) return std::move(**answer);
  return JsonAnswer(200, json::object{{"enabled", true}, {"backup_codes", CodesJson(codes)}});
}

Result<Response> DisableTotp(Request& req, const MfaShared& shared) {
  auto caller = SignedInCaller(req, *shared.base);
  if (!caller.ok()) return std::move(caller).error();
  if (caller->refusal) return std::move(*caller->refusal);
  auto body = ReadBody(req, *shared.base);
  if (!body.ok()) return std::move(body).error();
  GH_RETURN_IF_ERROR(http::JsonFields()
                         .Optional("code", http::JsonType::kString)
                         .Optional("password", http::JsonType::kString)
                         .Check(*body));
  auto proof = Reauthenticate(req, shared, *caller, *body, /*allow_code=*/true);
  if (!proof.ok()) return std::move(proof).error();
  if (*proof) return std::move(**proof);
  GH_RETURN_IF_ERROR(shared.mfa.DisableTotp(caller->principal->account_id, caller->ctx));
  return EmptyAnswer(204);
}

Result<Response> RegenerateBackupCodes(Request& req, const MfaShared& shared) {
  auto caller = SignedInCaller(req, *shared.base);
  if (!caller.ok()) return std::move(caller).error();
  if (caller->refusal) return std::move(*caller->refusal);
  auto body = ReadBody(req, *shared.base);
  if (!body.ok()) return std::move(body).error();
  GH_RETURN_IF_ERROR(http::JsonFields()
                         .Optional("code", http::JsonType::kString)
                         .Optional("password", http::JsonType::kString)
                         .Check(*body));
  auto proof = Reauthenticate(req, shared, *caller, *body, /*allow_code=*/true);
  if (!proof.ok()) return std::move(proof).error();
  if (*proof) return std::move(**proof);
  auto codes = shared.mfa.RegenerateBackupCodes(caller->principal->account_id, caller->ctx);
  if (!codes.ok()) return std::move(codes).error();
  return JsonAnswer(200, json::object{{"backup_codes", CodesJson(*codes)}});
}

Result<Response> BeginSms(Request& req, const MfaShared& shared) {
  auto caller = SignedInCaller(req, *shared.base);
  if (!caller.ok()) return std::move(caller).error();
  if (caller->refusal) return std::move(*caller->refusal);
  auto body = ReadBody(req, *shared.base);
  if (!body.ok()) return std::move(body).error();
  GH_RETURN_IF_ERROR(http::JsonFields().Required("phone", http::JsonType::kString).Check(*body));
  GH_RETURN_IF_ERROR(CheckPhone(Text(*body, "phone")));
  auto dispatch =
      shared.mfa.BeginSms(caller->principal->account_id, Text(*body, "phone"), caller->ctx);
  if (!dispatch.ok()) return DispatchFailed(req, std::move(dispatch).error());
  return DispatchAnswer(req, *dispatch);
}

Result<Response> ConfirmSms(Request& req, const MfaShared& shared) {
  auto caller = SignedInCaller(req, *shared.base);
  if (!caller.ok()) return std::move(caller).error();
  if (caller->refusal) return std::move(*caller->refusal);
  auto body = ReadBody(req, *shared.base);
  if (!body.ok()) return std::move(body).error();
  GH_RETURN_IF_ERROR(http::JsonFields().Required("code", http::JsonType::kString).Check(*body));
  GH_RETURN_IF_ERROR(CheckCodeText(Text(*body, "code")));
  auto email = shared.mfa.AccountEmail(caller->principal->account_id);
  if (!email.ok()) return std::move(email).error();

  std::vector<std::string> codes;
  auto answer = Guarded(req, *shared.base, *email, [&]() -> Status {
    auto confirmed =
        shared.mfa.ConfirmSms(caller->principal->account_id, Text(*body, "code"), caller->ctx);
    if (!confirmed.ok()) return std::move(confirmed).error();
    codes = std::move(*confirmed);
    return Ok();
  });
  if (!answer.ok()) return std::move(answer).error();
  if (*answer) return std::move(**answer);
  return JsonAnswer(200, json::object{{"enabled", true}, {"backup_codes", CodesJson(codes)}});
}

Result<Response> DisableSms(Request& req, const MfaShared& shared) {
  auto caller = SignedInCaller(req, *shared.base);
  if (!caller.ok()) return std::move(caller).error();
  if (caller->refusal) return std::move(*caller->refusal);
  auto body = ReadBody(req, *shared.base);
  if (!body.ok()) return std::move(body).error();
  GH_RETURN_IF_ERROR(http::JsonFields().Required("password", http::JsonType::kString).Check(*body));
  auto proof = Reauthenticate(req, shared, *caller, *body, /*allow_code=*/false);
  if (!proof.ok()) return std::move(proof).error();
  if (*proof) return std::move(**proof);
  GH_RETURN_IF_ERROR(shared.mfa.DisableSms(caller->principal->account_id, caller->ctx));
  return EmptyAnswer(204);
}

// ---- login routes ----------------------------------------------------------------------------

Result<Response> SendLoginCode(Request& req, const MfaShared& shared) {
  auto body = ReadBody(req, *shared.base);
  if (!body.ok()) return std::move(body).error();
  GH_RETURN_IF_ERROR(http::JsonFields().Required("ticket", http::JsonType::kString).Check(*body));
  const RequestContext ctx = ContextOf(req, *shared.base);
  auto dispatch = shared.mfa.SendLoginCode(Text(*body, "ticket"), ctx);
  if (!dispatch.ok()) return DispatchFailed(req, std::move(dispatch).error());
  return DispatchAnswer(req, *dispatch);
}

Result<Response> Verify(Request& req, const MfaShared& shared) {
  auto body = ReadBody(req, *shared.base);
  if (!body.ok()) return std::move(body).error();
  GH_RETURN_IF_ERROR(http::JsonFields()
                         .Required("ticket", http::JsonType::kString)
                         .Required("code", http::JsonType::kString)
                         .Optional("method", http::JsonType::kString)
                         .Check(*body));
  std::optional<SecondFactorMethod> method;
  if (body->contains("method")) {
    method = ParseSecondFactorMethod(Text(*body, "method"));
    if (!method) return InvalidArgument("method must be totp, sms or backup_code");
  }
  const std::string_view code = Text(*body, "code");
  GH_RETURN_IF_ERROR(CheckCodeText(code));
  // Malformed codes are refused before an attempt is counted: nothing was guessed.
  if (!ClassifyCode(code, shared.mfa.settings().totp.digits, nullptr)) {
    return InvalidArgument("code must be the digits from the app or the text, or a backup code");
  }
  const RequestContext ctx = ContextOf(req, *shared.base);
  const std::string_view ticket = Text(*body, "ticket");
  auto holder = shared.mfa.PeekTicket(ticket, ctx);
  if (!holder.ok()) return std::move(holder).error();

  std::optional<SecondFactorPass> pass;
  auto answer = Guarded(req, *shared.base, holder->email, [&]() -> Status {
    auto redeemed = shared.mfa.Redeem(ticket, code, method, ctx);
    if (!redeemed.ok()) return std::move(redeemed).error();
    pass = std::move(*redeemed);
    return Ok();
  });
  if (!answer.ok()) return std::move(answer).error();
  if (*answer) return std::move(**answer);

  auto grant = shared.base->service.CompleteLogin(pass->account_id, pass->amr,
                                                  SecondFactorMethodName(pass->method), ctx);
  if (!grant.ok()) return std::move(grant).error();
  Response response = GrantAnswer(*grant, *shared.base);
  if (const LoginGuard* guard = shared.base->options.login_guard) {
    // A complete sign-in makes the device known to the brute-force guard, as a password
    // login of an account without a second factor does.
    auto cookie = guard->DeviceCookie(guard->AccountKey(holder->email));
    if (cookie.ok()) response.AddHeader("Set-Cookie", std::move(*cookie));
  }
  return response;
}

}  // namespace

void AddMfaRoutes(http::Router& router, std::shared_ptr<const RouteShared> base, MfaService& mfa) {
  auto shared = std::make_shared<MfaShared>(MfaShared{std::move(base), mfa});
  const http::RouteOptions signed_in{.offload = true, .rate_class = "protected"};
  const http::RouteOptions login{.offload = true, .rate_class = "auth"};
  using Fn = Result<Response> (*)(Request&, const MfaShared&);
  auto add = [&](Method method, std::string pattern, Fn fn, const http::RouteOptions& options) {
    router.Add(
        method, std::move(pattern),
        [shared, fn](Request& req, const RouteParams&) { return fn(req, *shared); }, options);
  };
  add(Method::kGet, "/v1/me/mfa", Overview, signed_in);
  add(Method::kPost, "/v1/me/mfa/totp", BeginTotp, signed_in);
  add(Method::kPost, "/v1/me/mfa/totp/confirm", ConfirmTotp, signed_in);
  add(Method::kDelete, "/v1/me/mfa/totp", DisableTotp, signed_in);
  add(Method::kPost, "/v1/me/mfa/backup-codes", RegenerateBackupCodes, signed_in);
  add(Method::kPost, "/v1/me/mfa/sms", BeginSms, signed_in);
  add(Method::kPost, "/v1/me/mfa/sms/confirm", ConfirmSms, signed_in);
  add(Method::kDelete, "/v1/me/mfa/sms", DisableSms, signed_in);
  add(Method::kPost, "/v1/auth/mfa/sms", SendLoginCode, login);
  add(Method::kPost, "/v1/auth/mfa/verify", Verify, login);
}

}  // namespace gatehouse::auth
