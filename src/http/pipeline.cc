#include "http/pipeline.h"

#include <exception>
#include <memory>
#include <tuple>
#include <string>
#include <typeinfo>
#include <utility>

#include "http/problem.h"
#include "http/request_id.h"

namespace gatehouse::http {
namespace {

constexpr std::string_view kRequestIdHeader = "X-Request-Id";

}  // namespace

Pipeline::Pipeline(const Router& router, WorkerPool& pool, PipelineOptions options)
    : router_(router), pool_(pool), options_(std::move(options)) {}

void Pipeline::Prepare(Request& req) const {
  // Assigned in place: a server that reuses its Request keeps the string's capacity.
  const std::optional<std::string_view> sent = req.FindHeader(kRequestIdHeader);
  if (sent && IsAcceptableRequestId(*sent)) {
    // The header's value lives in req.headers, never in request_id itself.
    req.request_id.assign(*sent);
  } else {
    GenerateRequestIdInto(req.request_id);
  }
}

void Pipeline::Dispatch(Request& req, Done done) const {
  // A queued job gets a copy of the callback; a synchronous answer (a refused job's 503
  // included) calls the original here.
  std::optional<Response> now = DispatchHere(req, [&done] { return done; });
  if (now) done(std::move(*now));
}

namespace {

void AddAdmissionHeaders(const Admission& admission, Response& response) {
  response.rate_limit = admission.rate_limit;
}

}  // namespace

std::optional<Response> Pipeline::DispatchHere(Request& req,
                                               const std::function<Done()>& make_done) const {
  RouteMatch match = router_.Match(req.method, req.RawPath());
  if (options_.gate == nullptr) {
    Admission none;
    return Continue(req, match, none, make_done);
  }

  std::string_view rate_class = "default";
  if (match.kind == RouteMatch::kFound) {
    const RouteOptions& route_options = match.route->options;
    rate_class = route_options.rate_class_of ? route_options.rate_class_of(req)
                                             : std::string_view(route_options.rate_class);
  }
  // The match is moved into the callback only when the gate answers later; a gate that
  // decides here never calls this. The factory captures one pointer, so that std::function
  // keeps it inline instead of allocating on every request.
  struct Pending {
    const Pipeline* self;
    Request& req;
    RouteMatch& match;
    const std::function<Done()>& make_done;
  } pending{this, req, match, make_done};
  std::optional<Admission> admitted =
      options_.gate->Admit(req, rate_class, [&pending]() -> Gate::Done {
        return [self = pending.self, &req = pending.req, match = std::move(pending.match),
                done = pending.make_done()](Admission admission) mutable {
          self->ContinueLater(req, std::move(match), std::move(admission), std::move(done));
        };
      });
  if (!admitted) return std::nullopt;
  if (admitted->refusal) {
    Finish(req, *admitted->refusal);
    return std::move(admitted->refusal);
  }
  return Continue(req, match, *admitted, make_done);
}

Response Pipeline::EarlyAnswer(const Request& req, RouteMatch& match) const {
  Response early;
  switch (match.kind) {
    case RouteMatch::kFound:
      break;
    case RouteMatch::kBadRequest:
      early = MakeProblem(*match.error, req.request_id, options_.verbose_errors);
      break;
    case RouteMatch::kNotFound:
      early = MakeStatusProblem(404, req.request_id);
      break;
    case RouteMatch::kMethodNotAllowed:
      early = MakeStatusProblem(405, req.request_id);
      early.AddHeader("Allow", std::move(match.allow));  // RFC 9110 section 15.5.6: MUST.
      break;
  }
  return early;
}

std::optional<Response> Pipeline::Continue(Request& req, RouteMatch& match, Admission& admission,
                                           const std::function<Done()>& make_done) const {
  if (match.kind != RouteMatch::kFound) {
    Response early = EarlyAnswer(req, match);
    AddAdmissionHeaders(admission, early);
    Finish(req, early);
    return early;
  }

  const Route& route = *match.route;
  if (!route.options.offload) {
    Response response = RunHandler(route, req, match.params);
    AddAdmissionHeaders(admission, response);
    Finish(req, response);
    return response;
  }
  if (route.options.try_inline) {
    if (std::optional<Response> quick = RunInlineAttempt(route, req, match.params)) {
      AddAdmissionHeaders(admission, *quick);
      Finish(req, *quick);
      return quick;
    }
  }

  // The job owns the callback; if the pool refuses the task (and destroys it), the 503
  // below is returned instead and the callback is never called.
  struct Job {
    Request* req;
    const Route* route;
    RouteParams params;
    Admission admission;
    Done done;
  };
  auto job = std::make_shared<Job>(
      Job{&req, &route, std::move(match.params), std::move(admission), make_done()});
  const bool queued = pool_.TrySubmit([this, job] {
    Response response = RunHandler(*job->route, *job->req, job->params);
    AddAdmissionHeaders(job->admission, response);
    Finish(*job->req, response);
    job->done(std::move(response));
  });
  if (queued) return std::nullopt;

  // Overload is answered at once with a retry hint instead of queueing without bound.
  offload_rejected_.fetch_add(1, std::memory_order_relaxed);
  Response busy = MakeStatusProblem(503, req.request_id);
  busy.AddHeader("Retry-After", std::to_string(options_.worker_retry_after_s));
  Finish(req, busy);
  return busy;
}

void Pipeline::ContinueLater(Request& req, RouteMatch match, Admission admission,
                             Done done) const {
  if (admission.refusal) {
    Finish(req, *admission.refusal);
    done(std::move(*admission.refusal));
    return;
  }
  auto job = std::make_shared<std::tuple<RouteMatch, Admission, Done>>(
      std::move(match), std::move(admission), std::move(done));
  const bool queued = pool_.TrySubmit([this, &req, job] {
    auto& [queued_match, queued_admission, queued_done] = *job;
    Response response = queued_match.kind == RouteMatch::kFound
                            ? RunHandler(*queued_match.route, req, queued_match.params)
                            : EarlyAnswer(req, queued_match);
    AddAdmissionHeaders(queued_admission, response);
    Finish(req, response);
    queued_done(std::move(response));
  });
  if (queued) return;
  offload_rejected_.fetch_add(1, std::memory_order_relaxed);
  Response busy = MakeStatusProblem(503, req.request_id);
  busy.AddHeader("Retry-After", std::to_string(options_.worker_retry_after_s));
  Finish(req, busy);
  std::get<2>(*job)(std::move(busy));
}

Response Pipeline::RunHandler(const Route& route, Request& req, const RouteParams& params) const {
  // The one catch boundary for handlers: an exception becomes a 500 problem here and never
  // reaches the server's I/O loop or the worker thread.
  std::string type;
  std::string what;  // Only kept in verbose mode: library texts can quote input.
  try {
    Result<Response> result = route.handler(req, params);
    if (result.ok()) return std::move(result).value();
    return MakeProblem(result.error(), req.request_id, options_.verbose_errors);
  } catch (const std::exception& e) {
    type = typeid(e).name();
    if (options_.verbose_errors) what = e.what();
  } catch (...) {
    type = "non-std exception";
  }
  return HandlerFailure(route, req, type, what);
}

std::optional<Response> Pipeline::RunInlineAttempt(const Route& route, Request& req,
                                                   const RouteParams& params) const {
  // The same catch boundary as RunHandler: this runs on the I/O thread.
  std::string type;
  std::string what;
  try {
    std::optional<Result<Response>> result = route.options.try_inline(req, params);
    if (!result) return std::nullopt;
    if (result->ok()) return std::move(*result).value();
    return MakeProblem(result->error(), req.request_id, options_.verbose_errors);
  } catch (const std::exception& e) {
    type = typeid(e).name();
    if (options_.verbose_errors) what = e.what();
  } catch (...) {
    type = "non-std exception";
  }
  return HandlerFailure(route, req, type, what);
}

Response Pipeline::HandlerFailure(const Route& route, const Request& req, std::string_view type,
                                  std::string_view what) const {
  handler_exceptions_.fetch_add(1, std::memory_order_relaxed);
  if (options_.on_handler_exception) options_.on_handler_exception(type);
  std::string detail = "handler for " + route.pattern + " threw " + std::string(type);
  if (!what.empty()) detail += ": " + std::string(what);
  return MakeProblem(Internal(std::move(detail)), req.request_id, options_.verbose_errors);
}

void Pipeline::Finish(const Request& req, Response& response) const {
  if (!req.request_id.empty() && !response.FindHeader(kRequestIdHeader)) {
    response.AddHeader(std::string(kRequestIdHeader), req.request_id);
  }
  // With nosniff on every response, a declared opaque type is never rendered as a page.
  if (!response.body.empty() && response.content_type.empty()) {
    response.content_type = "application/octet-stream";
  }
}

Pipeline::Counters Pipeline::counters() const {
  Counters c;
  c.offload_rejected = offload_rejected_.load(std::memory_order_relaxed);
  c.handler_exceptions = handler_exceptions_.load(std::memory_order_relaxed);
  return c;
}

}  // namespace gatehouse::http
