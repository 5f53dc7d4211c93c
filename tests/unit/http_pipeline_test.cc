#include "http/pipeline.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <latch>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/json/parse.hpp>

namespace gatehouse::http {
namespace {

std::string ProblemType(const Response& r) {
  return std::string(boost::json::parse(r.body).as_object().at("type").as_string());
}

std::optional<std::string> HeaderValue(const Response& r, std::string_view name) {
  for (const Header& h : r.headers) {
    if (h.name == name) return h.value;
  }
  return std::nullopt;
}

int CountHeader(const Response& r, std::string_view name) {
  int n = 0;
  for (const Header& h : r.headers) n += h.name == name;
  return n;
}

Request MakeRequest(Method method, std::string target) {
  Request req;
  req.method = method;
  req.target = std::move(target);
  return req;
}

// Collects the responses handed to `done`, counting the calls.
struct Recorder {
  std::vector<Response> responses;
  std::vector<std::thread::id> threads;
  std::promise<void> called;

  Pipeline::Done Done() {
    return [this](Response r) {
      responses.push_back(std::move(r));
      threads.push_back(std::this_thread::get_id());
      if (responses.size() == 1) called.set_value();
    };
  }
  void Wait() {
    ASSERT_EQ(called.get_future().wait_for(std::chrono::seconds(5)), std::future_status::ready);
  }
};

class PipelineTest : public ::testing::Test {
 protected:
  PipelineTest() : pool_(1, 1) {}

  void SetUp() override {
    router_.Add(Method::kGet, "/inline/{id}", [this](Request& req, const RouteParams& p) {
      handler_thread_ = std::this_thread::get_id();
      return Result<Response>(
          Response::Json(200, "{\"id\":\"" + std::string(*p.Get("id")) + "\"}"));
    });
    router_.Add(
        Method::kPost, "/offload",
        [this](Request&, const RouteParams&) -> Result<Response> {
          handler_thread_ = std::this_thread::get_id();
          return Response::Text(201, "made");
        },
        RouteOptions{.offload = true});
    router_.Add(
        Method::kPost, "/block",
        [this](Request&, const RouteParams&) -> Result<Response> {
          started_.count_down();
          release_.get_future().wait();
          return Response::Text(200, "done");
        },
        RouteOptions{.offload = true});
    router_.Add(Method::kGet, "/fail", [](Request&, const RouteParams&) -> Result<Response> {
      return Error(ErrorCode::kPermissionDenied, "Not yours.", "owner=42 caller=7");
    });
    router_.Add(Method::kGet, "/throw", [](Request&, const RouteParams&) -> Result<Response> {
      throw std::runtime_error("token=eyJhbGciOi secret text");
    });
    router_.Add(
        Method::kGet, "/throw-offloaded",
        [](Request&, const RouteParams&) -> Result<Response> { throw 7; },
        RouteOptions{.offload = true});
    // Answers inline unless the query says "slow"; the handler answers on the pool.
    router_.Add(
        Method::kGet, "/maybe",
        [this](Request&, const RouteParams&) -> Result<Response> {
          handler_thread_ = std::this_thread::get_id();
          return Response::Text(200, "pooled");
        },
        RouteOptions{
            .offload = true,
            .try_inline = [](Request& req, const RouteParams&) -> std::optional<Result<Response>> {
              if (req.query == "slow") return std::nullopt;
              if (req.query == "boom") throw std::logic_error("inline failure");
              return Result<Response>(Response::Text(200, "inline"));
            },
            .rate_class_of = [](const Request& req) -> std::string_view {
              return req.FindHeader("X-API-Key") ? "api_key" : "protected";
            }});
    router_.Add(Method::kGet, "/untyped", [](Request&, const RouteParams&) -> Result<Response> {
      Response r;
      r.body = "<html>";
      return r;
    });
    ASSERT_TRUE(router_.status().ok());
  }

  Pipeline MakePipeline(bool verbose = false) {
    PipelineOptions options;
    options.verbose_errors = verbose;
    options.worker_retry_after_s = 3;
    options.on_handler_exception = [this](std::string_view type) {
      exception_types_.emplace_back(type);
    };
    return Pipeline(router_, pool_, std::move(options));
  }

  Router router_;
  WorkerPool pool_;
  std::atomic<std::thread::id> handler_thread_{};
  std::latch started_{1};
  std::promise<void> release_;
  std::vector<std::string> exception_types_;
};

TEST_F(PipelineTest, PrepareAcceptsOrGeneratesRequestId) {
  const Pipeline pipeline = MakePipeline();
  Request good = MakeRequest(Method::kGet, "/x");
  good.headers.push_back({"x-request-id", "client-42"});
  pipeline.Prepare(good);
  EXPECT_EQ(good.request_id, "client-42");

  Request bad = MakeRequest(Method::kGet, "/x");
  bad.headers.push_back({"X-Request-Id", "a\r\nb"});
  pipeline.Prepare(bad);
  EXPECT_EQ(bad.request_id.size(), 32u);
}

TEST_F(PipelineTest, InlineRouteAnswersSynchronouslyOnTheCallingThread) {
  const Pipeline pipeline = MakePipeline();
  Request req = MakeRequest(Method::kGet, "/inline/ab%63?q=1");
  pipeline.Prepare(req);
  Recorder rec;
  pipeline.Dispatch(req, rec.Done());
  ASSERT_EQ(rec.responses.size(), 1u);  // Before Dispatch returned.
  EXPECT_EQ(rec.threads[0], std::this_thread::get_id());
  EXPECT_EQ(handler_thread_.load(), std::this_thread::get_id());
  EXPECT_EQ(rec.responses[0].status, 200);
  EXPECT_EQ(rec.responses[0].body, "{\"id\":\"abc\"}");
  EXPECT_EQ(HeaderValue(rec.responses[0], "X-Request-Id"), req.request_id);
}

TEST_F(PipelineTest, OffloadedRouteRunsHandlerAndDoneOnAWorker) {
  const Pipeline pipeline = MakePipeline();
  Request req = MakeRequest(Method::kPost, "/offload");
  Recorder rec;
  pipeline.Dispatch(req, rec.Done());
  rec.Wait();
  pool_.Shutdown();
  ASSERT_EQ(rec.responses.size(), 1u);
  EXPECT_NE(rec.threads[0], std::this_thread::get_id());
  EXPECT_EQ(handler_thread_.load(), rec.threads[0]);
  EXPECT_EQ(rec.responses[0].status, 201);
}

TEST_F(PipelineTest, InlineAttemptAnswersOnTheCallingThread) {
  const Pipeline pipeline = MakePipeline();
  Request req = MakeRequest(Method::kGet, "/maybe");
  Recorder rec;
  pipeline.Dispatch(req, rec.Done());
  ASSERT_EQ(rec.responses.size(), 1u);  // Before Dispatch returned.
  EXPECT_EQ(rec.threads[0], std::this_thread::get_id());
  EXPECT_EQ(rec.responses[0].body, "inline");
  EXPECT_EQ(handler_thread_.load(), std::thread::id());
}

TEST_F(PipelineTest, DeclinedInlineAttemptRunsTheHandlerOnAWorker) {
  const Pipeline pipeline = MakePipeline();
  Request req = MakeRequest(Method::kGet, "/maybe?slow");
  req.query = "slow";
  Recorder rec;
  pipeline.Dispatch(req, rec.Done());
  rec.Wait();
  pool_.Shutdown();
  ASSERT_EQ(rec.responses.size(), 1u);
  EXPECT_EQ(rec.responses[0].body, "pooled");
  EXPECT_NE(handler_thread_.load(), std::this_thread::get_id());
}

TEST_F(PipelineTest, ThrowingInlineAttemptAnswers500) {
  const Pipeline pipeline = MakePipeline();
  Request req = MakeRequest(Method::kGet, "/maybe?boom");
  req.query = "boom";
  Recorder rec;
  pipeline.Dispatch(req, rec.Done());
  ASSERT_EQ(rec.responses.size(), 1u);
  EXPECT_EQ(rec.responses[0].status, 500);
  EXPECT_EQ(ProblemType(rec.responses[0]), "https://gatehouse.dev/problems/internal-error");
  ASSERT_EQ(exception_types_.size(), 1u);
}

// Records the class each request was admitted under.
class RecordingGate final : public Gate {
 public:
  std::optional<Admission> Admit(Request&, std::string_view rate_class,
                                 const std::function<Done()>&) const override {
    classes.emplace_back(rate_class);
    return Admission{};
  }
  mutable std::vector<std::string> classes;
};

TEST_F(PipelineTest, RouteChoosesTheRateClassPerRequest) {
  RecordingGate gate;
  PipelineOptions options;
  options.gate = &gate;
  const Pipeline pipeline(router_, pool_, options);
  Request plain = MakeRequest(Method::kGet, "/maybe");
  Request keyed = MakeRequest(Method::kGet, "/maybe");
  keyed.headers.push_back({"X-API-Key", "gh_test_x"});
  Request other = MakeRequest(Method::kGet, "/inline/a");
  for (Request* req : {&plain, &keyed, &other}) pipeline.Dispatch(*req, [](Response) {});
  EXPECT_EQ(gate.classes, (std::vector<std::string>{"protected", "api_key", "default"}));
}

TEST_F(PipelineTest, FullPoolAnswers503WithRetryAfter) {
  const Pipeline pipeline = MakePipeline();
  Request busy = MakeRequest(Method::kPost, "/block");
  Request queued = MakeRequest(Method::kPost, "/offload");
  Request refused = MakeRequest(Method::kPost, "/offload");
  refused.request_id = "rid-503";
  Recorder busy_rec, queued_rec, refused_rec;

  pipeline.Dispatch(busy, busy_rec.Done());
  started_.wait();                               // The only worker is held.
  pipeline.Dispatch(queued, queued_rec.Done());  // Takes the only queue slot.
  pipeline.Dispatch(refused, refused_rec.Done());

  ASSERT_EQ(refused_rec.responses.size(), 1u);  // Answered at once.
  const Response& r = refused_rec.responses[0];
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(HeaderValue(r, "Retry-After"), "3");
  EXPECT_EQ(ProblemType(r), "https://gatehouse.dev/problems/service-unavailable");
  EXPECT_EQ(HeaderValue(r, "X-Request-Id"), "rid-503");
  EXPECT_EQ(pipeline.counters().offload_rejected, 1u);

  release_.set_value();
  pool_.Shutdown();
  EXPECT_EQ(busy_rec.responses.size(), 1u);
  EXPECT_EQ(queued_rec.responses.size(), 1u);
  EXPECT_EQ(refused_rec.responses.size(), 1u);
}

TEST_F(PipelineTest, HandlerErrorBecomesProblem) {
  const Pipeline pipeline = MakePipeline();
  Request req = MakeRequest(Method::kGet, "/fail");
  Recorder rec;
  pipeline.Dispatch(req, rec.Done());
  ASSERT_EQ(rec.responses.size(), 1u);
  EXPECT_EQ(rec.responses[0].status, 403);
  EXPECT_EQ(ProblemType(rec.responses[0]), "https://gatehouse.dev/problems/forbidden");
  EXPECT_EQ(rec.responses[0].body.find("owner=42"), std::string::npos);
}

TEST_F(PipelineTest, ThrowingHandlerAnswers500WithoutDetail) {
  const Pipeline pipeline = MakePipeline();
  Request req = MakeRequest(Method::kGet, "/throw");
  Recorder rec;
  pipeline.Dispatch(req, rec.Done());
  ASSERT_EQ(rec.responses.size(), 1u);
  const Response& r = rec.responses[0];
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(ProblemType(r), "https://gatehouse.dev/problems/internal-error");
  EXPECT_EQ(r.body.find("secret"), std::string::npos);
  EXPECT_EQ(r.body.find("eyJ"), std::string::npos);
  EXPECT_EQ(r.body.find("runtime_error"), std::string::npos);
  ASSERT_EQ(exception_types_.size(), 1u);
  EXPECT_NE(exception_types_[0].find("runtime_error"), std::string::npos);
  EXPECT_EQ(exception_types_[0].find("secret"), std::string::npos);
  EXPECT_EQ(pipeline.counters().handler_exceptions, 1u);
}

TEST_F(PipelineTest, VerboseModeShowsWhatAHandlerThrew) {
  const Pipeline pipeline = MakePipeline(/*verbose=*/true);
  Request req = MakeRequest(Method::kGet, "/throw");
  Recorder rec;
  pipeline.Dispatch(req, rec.Done());
  ASSERT_EQ(rec.responses.size(), 1u);
  const auto body = boost::json::parse(rec.responses[0].body).as_object();
  const std::string debug(body.at("debug").as_string());
  EXPECT_NE(debug.find("/throw"), std::string::npos);
  EXPECT_NE(debug.find("runtime_error"), std::string::npos);
  EXPECT_NE(debug.find("secret text"), std::string::npos);
}

TEST_F(PipelineTest, ThrowingOffloadedHandlerAnswers500OnTheWorker) {
  const Pipeline pipeline = MakePipeline();
  Request req = MakeRequest(Method::kGet, "/throw-offloaded");
  Recorder rec;
  pipeline.Dispatch(req, rec.Done());
  rec.Wait();
  pool_.Shutdown();
  ASSERT_EQ(rec.responses.size(), 1u);
  EXPECT_EQ(rec.responses[0].status, 500);
  EXPECT_EQ(pool_.counters().failed, 0u);  // Caught by the pipeline, not the pool.
  EXPECT_EQ(exception_types_.size(), 1u);
}

TEST_F(PipelineTest, NotFoundMethodNotAllowedAndBadPath) {
  const Pipeline pipeline = MakePipeline();
  struct Case {
    Method method;
    std::string target;
    int status;
    std::string slug;
  };
  const std::vector<Case> cases = {
      {Method::kGet, "/nowhere", 404, "not-found"},
      {Method::kDelete, "/inline/1", 405, "method-not-allowed"},
      {Method::kGet, "/inline/%2e%2e", 400, "invalid-request"},
      {Method::kGet, "/inline/a%2Fb?x", 400, "invalid-request"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.target);
    Request req = MakeRequest(c.method, c.target);
    Recorder rec;
    pipeline.Dispatch(req, rec.Done());
    ASSERT_EQ(rec.responses.size(), 1u);
    EXPECT_EQ(rec.responses[0].status, c.status);
    EXPECT_EQ(ProblemType(rec.responses[0]), "https://gatehouse.dev/problems/" + c.slug);
    EXPECT_EQ(HeaderValue(rec.responses[0], "Allow").has_value(), c.status == 405);
  }
  Request req = MakeRequest(Method::kDelete, "/inline/1");
  Recorder rec;
  pipeline.Dispatch(req, rec.Done());
  EXPECT_EQ(HeaderValue(rec.responses[0], "Allow"), "GET, HEAD");
}

TEST_F(PipelineTest, FinishEchoesRequestIdOnceAndTypesBareBodies) {
  const Pipeline pipeline = MakePipeline();
  Request req = MakeRequest(Method::kGet, "/untyped");
  req.request_id = "rid-9";
  Recorder rec;
  pipeline.Dispatch(req, rec.Done());
  ASSERT_EQ(rec.responses.size(), 1u);
  Response& r = rec.responses[0];
  EXPECT_EQ(r.content_type, "application/octet-stream");
  pipeline.Finish(req, r);  // Idempotent.
  EXPECT_EQ(CountHeader(r, "X-Request-Id"), 1);

  Response empty;
  empty.status = 204;
  pipeline.Finish(req, empty);
  EXPECT_EQ(empty.content_type, "");
  EXPECT_EQ(HeaderValue(empty, "X-Request-Id"), "rid-9");

  Response typed = Response::Json(200, "{}");
  pipeline.Finish(req, typed);
  EXPECT_EQ(typed.content_type, "application/json");
}

TEST_F(PipelineTest, DoneIsCalledExactlyOnceUnderLoad) {
  WorkerPool pool(2, 4);
  PipelineOptions options;
  const Pipeline pipeline(router_, pool, options);
  constexpr int kRequests = 200;
  std::vector<Request> requests;
  requests.reserve(kRequests);
  std::vector<std::atomic<int>> calls(kRequests);
  // Accepted, refused (503), throwing and unrouted requests all answer once.
  for (int i = 0; i < kRequests; ++i) {
    if (i % 3 == 0) requests.push_back(MakeRequest(Method::kPost, "/offload"));
    if (i % 3 == 1) requests.push_back(MakeRequest(Method::kGet, "/throw-offloaded"));
    if (i % 3 == 2) requests.push_back(MakeRequest(Method::kGet, "/nope"));
  }
  for (int i = 0; i < kRequests; ++i) {
    pipeline.Dispatch(requests[i], [&calls, i](Response) { ++calls[i]; });
  }
  pool.Shutdown();
  for (int i = 0; i < kRequests; ++i) EXPECT_EQ(calls[i].load(), 1) << i;
}

}  // namespace
}  // namespace gatehouse::http
