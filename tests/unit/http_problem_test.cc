#include "http/problem.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include <boost/json/parse.hpp>

namespace gatehouse::http {
namespace {

boost::json::object Body(const Response& r) { return boost::json::parse(r.body).as_object(); }

std::string TypeUri(std::string_view slug) {
  return std::string(kProblemTypeBase) + std::string(slug);
}

struct CodeCase {
  ErrorCode code;
  int status;
  std::string slug;
};

TEST(Problem, MapsEveryErrorCode) {
  const std::vector<CodeCase> cases = {
      {ErrorCode::kInvalidArgument, 400, "invalid-request"},
      {ErrorCode::kNotFound, 404, "not-found"},
      {ErrorCode::kAlreadyExists, 409, "already-exists"},
      {ErrorCode::kUnauthenticated, 401, "unauthenticated"},
      {ErrorCode::kPermissionDenied, 403, "forbidden"},
      {ErrorCode::kFailedPrecondition, 409, "conflict"},
      {ErrorCode::kResourceExhausted, 429, "too-many-requests"},
      {ErrorCode::kPayloadTooLarge, 413, "payload-too-large"},
      {ErrorCode::kUnsupportedMedia, 415, "unsupported-media-type"},
      {ErrorCode::kDeadlineExceeded, 408, "request-timeout"},
      {ErrorCode::kUnavailable, 503, "service-unavailable"},
      {ErrorCode::kDataLoss, 500, "internal-error"},
      {ErrorCode::kInternal, 500, "internal-error"},
  };
  for (const CodeCase& c : cases) {
    SCOPED_TRACE(std::string(ErrorCodeName(c.code)));
    const Response r = MakeProblem(Error(c.code, "Client sentence."), "rid-1", false);
    EXPECT_EQ(r.status, c.status);
    EXPECT_EQ(r.content_type, "application/problem+json");
    const boost::json::object body = Body(r);
    EXPECT_EQ(body.at("type").as_string(), TypeUri(c.slug));
    EXPECT_EQ(body.at("title").as_string(), ProblemForCode(c.code).title);
    EXPECT_EQ(body.at("status").as_int64(), c.status);
    EXPECT_EQ(body.at("detail").as_string(), "Client sentence.");
    EXPECT_EQ(body.at("request_id").as_string(), "rid-1");
    EXPECT_EQ(ProblemForCode(c.code).slug, c.slug);
  }
}

const Error kLeakyError(ErrorCode::kInternal, "internal error",
                        "SELECT password_hash FROM users WHERE email='a@b.c' failed: "
                        "/var/lib/gatehouse/gatehouse.db is locked");

TEST(Problem, NonVerboseHidesDetail) {
  const Response r = MakeProblem(kLeakyError, "rid-2", false);
  EXPECT_EQ(r.body.find("SELECT"), std::string::npos);
  EXPECT_EQ(r.body.find("password_hash"), std::string::npos);
  EXPECT_EQ(r.body.find("/var/lib"), std::string::npos);
  EXPECT_EQ(r.body.find("a@b.c"), std::string::npos);
  const boost::json::object body = Body(r);
  EXPECT_FALSE(body.contains("debug"));
  EXPECT_EQ(body.at("detail").as_string(), "internal error");
  EXPECT_EQ(body.size(), 5u);  // type, title, status, detail, request_id
}

TEST(Problem, VerboseShowsDetailAsDebug) {
  const Response r = MakeProblem(kLeakyError, "rid-3", true);
  const boost::json::object body = Body(r);
  EXPECT_EQ(body.at("debug").as_string(), kLeakyError.detail());
  EXPECT_EQ(body.at("detail").as_string(), "internal error");
}

TEST(Problem, EscapesMessageAndOmitsEmptyMembers) {
  const Response r = MakeProblem(InvalidArgument("Bad \"name\"\r\nX-Evil: 1"), "", true);
  const boost::json::object body = Body(r);
  EXPECT_EQ(body.at("detail").as_string(), "Bad \"name\"\r\nX-Evil: 1");
  EXPECT_EQ(r.body.find('\n'), std::string::npos);
  EXPECT_FALSE(body.contains("request_id"));
  EXPECT_FALSE(body.contains("debug"));
}

TEST(Problem, UnauthenticatedCarriesChallenge) {
  const Response r = MakeProblem(Error(ErrorCode::kUnauthenticated, "Sign in."), "r", false);
  EXPECT_EQ(r.FindHeader("WWW-Authenticate"), "Bearer realm=\"gatehouse\"");
  EXPECT_FALSE(MakeProblem(InvalidArgument("No."), "r", false)
                   .FindHeader("WWW-Authenticate")
                   .has_value());
}

TEST(Problem, IsNeverStoredByCaches) {
  for (ErrorCode code : {ErrorCode::kInvalidArgument, ErrorCode::kUnauthenticated,
                         ErrorCode::kAlreadyExists, ErrorCode::kInternal}) {
    const Response r = MakeProblem(Error(code, "x"), "r", false);
    EXPECT_EQ(r.FindHeader("Cache-Control"), "no-store") << static_cast<int>(code);
  }
  EXPECT_EQ(MakeStatusProblem(404, "r").FindHeader("Cache-Control"), "no-store");
}

TEST(Problem, OnlyTimeoutClosesTheConnection) {
  EXPECT_TRUE(
      MakeProblem(Error(ErrorCode::kDeadlineExceeded, "Slow."), "r", false).close_connection);
  EXPECT_FALSE(MakeProblem(InvalidArgument("No."), "r", false).close_connection);
  EXPECT_FALSE(
      MakeProblem(Error(ErrorCode::kPayloadTooLarge, "Big."), "r", false).close_connection);
}

struct StatusCase {
  int status;
  int answered;
  std::string slug;
  bool close;
};

TEST(Problem, TransportStatusProblems) {
  const std::vector<StatusCase> cases = {
      {400, 400, "malformed-request", true},   {401, 401, "unauthenticated", false},
      {403, 403, "forbidden", false},          {404, 404, "not-found", false},
      {405, 405, "method-not-allowed", false}, {408, 408, "request-timeout", true},
      {409, 409, "conflict", false},           {413, 413, "payload-too-large", true},
      {414, 414, "uri-too-long", true},        {415, 415, "unsupported-media-type", false},
      {429, 429, "too-many-requests", false},  {431, 431, "header-fields-too-large", true},
      {500, 500, "internal-error", false},     {503, 503, "service-unavailable", false},
      {418, 500, "internal-error", false},     {200, 500, "internal-error", false},
  };
  for (const StatusCase& c : cases) {
    SCOPED_TRACE(c.status);
    const Response r = MakeStatusProblem(c.status, "rid-4");
    EXPECT_EQ(r.status, c.answered);
    EXPECT_EQ(r.close_connection, c.close);
    EXPECT_EQ(r.content_type, "application/problem+json");
    const boost::json::object body = Body(r);
    EXPECT_EQ(body.at("type").as_string(), TypeUri(c.slug));
    EXPECT_EQ(body.at("status").as_int64(), c.answered);
    EXPECT_FALSE(body.at("title").as_string().empty());
    EXPECT_FALSE(body.contains("detail"));
    EXPECT_EQ(body.at("request_id").as_string(), "rid-4");
  }
}

TEST(Problem, RegistryHasUniqueSlugsAndCoversEveryCode) {
  std::set<std::string_view> slugs;
  for (const ProblemType& p : ProblemRegistry()) {
    EXPECT_TRUE(slugs.insert(p.slug).second) << p.slug;
    EXPECT_FALSE(p.title.empty());
    EXPECT_GE(p.status, 400);
    EXPECT_LE(p.status, 599);
    for (const char c : p.slug) EXPECT_TRUE((c >= 'a' && c <= 'z') || c == '-') << p.slug;
  }
  for (int code = 0; code <= static_cast<int>(ErrorCode::kInternal); ++code) {
    const ProblemType& p = ProblemForCode(static_cast<ErrorCode>(code));
    EXPECT_TRUE(slugs.count(p.slug)) << p.slug;
  }
}

}  // namespace
}  // namespace gatehouse::http
