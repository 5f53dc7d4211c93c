#pragma once

// RFC 9457 problem details: the one place where an Error becomes an HTTP answer.
//
// Every problem type has a stable URI "https://gatehouse.dev/problems/<slug>", a fixed
// title and a status, listed once in ProblemRegistry() (the documentation is generated
// from the same table). The body is `application/problem+json` with the members `type`,
// `title`, `status`, `detail` and the extension member `request_id`, so a client can quote
// the id to an operator who then finds the log line.
//
// Two faces of an Error (core/status.h): `detail` in the body is Error::message(), the
// client-safe sentence. Error::detail() (file names, SQL, library text) reaches the body
// only in verbose mode, as the extension member `debug`; production turns verbose off.
//
// Thread safety: all functions are pure and may be called from any thread.

#include <span>
#include <string_view>

#include "core/status.h"
#include "http/message.h"

namespace gatehouse::http {

struct ProblemType {
  std::string_view slug;   // Last segment of the type URI; stable, part of the API.
  std::string_view title;  // Fixed sentence for the type (RFC 9457 section 3.1.3).
  int status;
};

inline constexpr std::string_view kProblemTypeBase = "https://gatehouse.dev/problems/";

// Every problem type the service can answer with, each slug once.
std::span<const ProblemType> ProblemRegistry();

// The type an ErrorCode maps to. Decisions:
//  - kFailedPrecondition -> 409 Conflict: it means "the state of the resource forbids this
//    now" (RFC 9110 section 15.5.10). 412 is reserved for failed conditional headers such as
//    If-Match (section 15.5.13), which this service does not evaluate through Errors.
//  - kDataLoss and kInternal share "internal-error" (500): telling a client that stored
//    data failed an integrity check helps an attacker probing tampering, not the client.
//  - kDeadlineExceeded -> 408: it is used for request read timeouts.
const ProblemType& ProblemForCode(ErrorCode code);

// The problem answer for `error`. Adds `WWW-Authenticate: Bearer realm="gatehouse"` to 401s
// (RFC 9110 section 11.6.1 requires a challenge) and asks to close the connection on 408
// (section 15.5.9). A 429 or 503 needs a Retry-After that only the caller knows: add it.
Response MakeProblem(const Error& error, std::string_view request_id, bool verbose);

// A transport-level problem without an Error, for the server: 400 (unparseable request),
// 401, 403, 404, 405, 408, 409, 413, 414, 415, 429, 431, 500 and 503. Carries no `detail`.
// 400, 408, 413, 414 and 431 ask to close the connection: after a framing error or an
// unread oversized message the rest of the stream cannot be trusted. A status not in this
// list yields the 500 problem, so a caller's mistake never produces an untyped answer.
// A 405 needs an Allow header and a 429 or 503 a Retry-After: the caller adds them.
Response MakeStatusProblem(int status, std::string_view request_id);

}  // namespace gatehouse::http
