#include "http/problem.h"

#include <array>
#include <string>

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

namespace gatehouse::http {
namespace {

// Indexes into kProblems; the order of the two must match.
enum ProblemIndex : std::size_t {
  kInvalidRequest,
  kMalformedRequest,
  kUnauthenticatedProblem,
  kForbidden,
  kNotFoundProblem,
  kMethodNotAllowed,
  kRequestTimeout,
  kAlreadyExistsProblem,
  kConflict,
  kPayloadTooLargeProblem,
  kUriTooLong,
  kUnsupportedMediaType,
  kTooManyRequests,
  kHeaderFieldsTooLarge,
  kInternalError,
  kServiceUnavailable,
  kProblemCount,
};

constexpr std::array<ProblemType, kProblemCount> kProblems = {{
    {"invalid-request", "The request is not valid.", 400},
    {"malformed-request", "The request could not be parsed.", 400},
    {"unauthenticated", "Authentication is required.", 401},
    {"forbidden", "Access to this resource is not allowed.", 403},
    {"not-found", "The requested resource was not found.", 404},
    {"method-not-allowed", "The method is not allowed for this resource.", 405},
    {"request-timeout", "The request was not received in time.", 408},
    {"already-exists", "The resource already exists.", 409},
    {"conflict", "The request conflicts with the current state of the resource.", 409},
    {"payload-too-large", "The request content is too large.", 413},
    {"uri-too-long", "The request target is too long.", 414},
    {"unsupported-media-type", "The request content has an unsupported media type.", 415},
    {"too-many-requests", "Too many requests.", 429},
    {"header-fields-too-large", "The request header fields are too large.", 431},
    {"internal-error", "An internal error occurred.", 500},
    {"service-unavailable", "The service is temporarily unavailable.", 503},
}};

ProblemIndex IndexForCode(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return kInvalidRequest;
    case ErrorCode::kNotFound:
      return kNotFoundProblem;
    case ErrorCode::kAlreadyExists:
      return kAlreadyExistsProblem;
    case ErrorCode::kUnauthenticated:
      return kUnauthenticatedProblem;
    case ErrorCode::kPermissionDenied:
      return kForbidden;
    case ErrorCode::kFailedPrecondition:
      return kConflict;
    case ErrorCode::kResourceExhausted:
      return kTooManyRequests;
    case ErrorCode::kPayloadTooLarge:
      return kPayloadTooLargeProblem;
    case ErrorCode::kUnsupportedMedia:
      return kUnsupportedMediaType;
    case ErrorCode::kDeadlineExceeded:
      return kRequestTimeout;
    case ErrorCode::kUnavailable:
      return kServiceUnavailable;
    case ErrorCode::kDataLoss:
      return kInternalError;
    case ErrorCode::kInternal:
      return kInternalError;
  }
  return kInternalError;
}

ProblemIndex IndexForStatus(int status) {
  switch (status) {
    case 400:
      return kMalformedRequest;
    case 401:
      return kUnauthenticatedProblem;
    case 403:
      return kForbidden;
    case 404:
      return kNotFoundProblem;
    case 405:
      return kMethodNotAllowed;
    case 408:
      return kRequestTimeout;
    case 409:
      return kConflict;
    case 413:
      return kPayloadTooLargeProblem;
    case 414:
      return kUriTooLong;
    case 415:
      return kUnsupportedMediaType;
    case 429:
      return kTooManyRequests;
    case 431:
      return kHeaderFieldsTooLarge;
    case 503:
      return kServiceUnavailable;
    default:
      return kInternalError;
  }
}

// Builds the response; `detail` and `debug` are left out when empty.
Response Render(const ProblemType& type, std::string_view detail, std::string_view debug,
                std::string_view request_id) {
  boost::json::object body;
  std::string uri(kProblemTypeBase);
  uri += type.slug;
  body["type"] = uri;
  body["title"] = type.title;
  body["status"] = type.status;
  if (!detail.empty()) body["detail"] = detail;
  if (!debug.empty()) body["debug"] = debug;
  if (!request_id.empty()) body["request_id"] = request_id;

  Response response;
  response.status = type.status;
  response.content_type = "application/problem+json";
  response.body = boost::json::serialize(body);
  // An error is about one request at one moment: no cache may keep or replay it (a stored
  // 401 or 409 could leak that an account exists to the next user of a shared cache).
  response.AddHeader("Cache-Control", "no-store");
  if (type.status == 401) response.AddHeader("WWW-Authenticate", "Bearer realm=\"gatehouse\"");
  return response;
}

}  // namespace

std::span<const ProblemType> ProblemRegistry() { return kProblems; }

const ProblemType& ProblemForCode(ErrorCode code) { return kProblems[IndexForCode(code)]; }

Response MakeProblem(const Error& error, std::string_view request_id, bool verbose) {
  // Security: the log-facing detail can name files, SQL or library internals; it reaches the
  // client only when the operator turned verbose errors on (never in production).
  const std::string_view debug = verbose ? std::string_view(error.detail()) : "";
  Response response = Render(ProblemForCode(error.code()), error.message(), debug, request_id);
  response.close_connection = response.status == 408;
  return response;
}

Response MakeStatusProblem(int status, std::string_view request_id) {
  Response response = Render(kProblems[IndexForStatus(status)], "", "", request_id);
  switch (response.status) {
    case 400:
    case 408:
    case 413:
    case 414:
    case 431:
      response.close_connection = true;
      break;
    default:
      break;
  }
  return response;
}

}  // namespace gatehouse::http
