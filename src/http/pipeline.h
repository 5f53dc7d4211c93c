#pragma once

// The Beast-free steps every request passes, so the server only parses, calls these, and
// writes. Order for one request:
//   server: parse, set Request fields (client_ip from the peer address)
//   Prepare(req)            request id
//   Dispatch(req, done)     route, admit (the gate), run the handler inline or on the
//                           worker pool, Finish
//   server: append SecurityHeaderBlock(), write, strip the body for HEAD
// Responses the server makes itself (timeouts, parse errors) go through Finish() too.
//
// Thread safety: all members are const and may run on any thread at once. The Router and
// WorkerPool must outlive the Pipeline.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>

#include "core/worker_pool.h"
#include "http/gate.h"
#include "http/message.h"
#include "http/router.h"

namespace gatehouse::http {

struct PipelineOptions {
  // Put Error::detail() and exception types in problem bodies. Development only.
  bool verbose_errors = false;
  // Retry-After seconds on the 503 sent when the worker queue is full.
  std::size_t worker_retry_after_s = 1;
  // Told the type name of an exception a handler threw (never what(), which can quote
  // input). Runs on the thread that ran the handler; may be empty.
  std::function<void(std::string_view exception_type)> on_handler_exception;
  // Admission control after routing (http/gate.h); nullptr admits everything. Not owned;
  // must outlive the Pipeline.
  const Gate* gate = nullptr;
};

class Pipeline {
 public:
  using Done = std::function<void(Response)>;

  struct Counters {
    std::uint64_t offload_rejected = 0;    // 503s because the worker queue was full.
    std::uint64_t handler_exceptions = 0;  // 500s because a handler threw.
  };

  Pipeline(const Router& router, WorkerPool& pool, PipelineOptions options);

  // Sets req.request_id from an acceptable X-Request-Id, or a generated one.
  void Prepare(Request& req) const;

  // Routes req (by req.RawPath()), passes the gate, and answers through `done`, which is
  // called exactly once with a finished response (see Finish):
  //  - a gate that decides later (Redis): the rest below happens on a worker thread, and
  //    a refusal is answered from the thread the gate called back on;
  //  - bad path 400, 404, 405 (with Allow): synchronously, on the calling thread;
  //  - a route without `offload`: the handler runs inline, done is called synchronously;
  //  - an offloaded route with `try_inline`: that runs inline first, and an answer from it
  //    is handled like an inline route's; when it declines, as an offloaded route;
  //  - an offloaded route: the handler and then done run ON A WORKER THREAD (the server
  //    posts the response back to its I/O thread); when the queue is full, done is called
  //    synchronously with 503 and Retry-After.
  // A handler's Error becomes MakeProblem(); a thrown exception becomes a 500 problem.
  // REQUIRES: req is neither destroyed nor modified by the caller until done has been
  // called; the handler may modify it. `done` should not throw: on the worker thread the
  // pool would swallow it, inline it propagates to the caller.
  void Dispatch(Request& req, Done done) const;

  // Dispatch for a caller that can take an answer at once (the server's I/O loop): a
  // response produced on the calling thread (the synchronous cases above, the 503 for a full
  // queue included) is returned, finished, instead of passed to a callback, which spares the
  // request path a callback allocation. Returns nullopt only when an offloaded route's job
  // was queued: `make_done` has then been called once, before queueing, and the Done it
  // returned is called on a worker thread as with Dispatch. `make_done` is not called for a
  // synchronous answer. REQUIRES as for Dispatch while a job is queued.
  std::optional<Response> DispatchHere(Request& req, const std::function<Done()>& make_done) const;

  // Completes a response: echoes X-Request-Id (once, however often Finish runs), and gives
  // a body without a Content-Type "application/octet-stream" so that no browser renders
  // it as HTML. The security header block is the server's job, at write time.
  void Finish(const Request& req, Response& response) const;

  Counters counters() const;

 private:
  Response RunHandler(const Route& route, Request& req, const RouteParams& params) const;
  // The route's try_inline, behind the same catch boundary; nullopt when it declined.
  std::optional<Response> RunInlineAttempt(const Route& route, Request& req,
                                           const RouteParams& params) const;
  // The 500 for a handler that threw `type` (with what(), verbose mode only).
  Response HandlerFailure(const Route& route, const Request& req, std::string_view type,
                          std::string_view what) const;
  // Everything after the gate, on the thread that has the admission.
  std::optional<Response> Continue(Request& req, RouteMatch match, Admission admission,
                                   const std::function<Done()>& make_done) const;
  // The answer for a match that found no route (400, 404, 405).
  Response EarlyAnswer(const Request& req, RouteMatch& match) const;
  // Admitted after waiting: runs even an inline route on the worker pool, since the gate
  // called back on a thread that must not run handlers.
  void ContinueLater(Request& req, RouteMatch match, Admission admission, Done done) const;

  const Router& router_;
  WorkerPool& pool_;
  PipelineOptions options_;
  mutable std::atomic<std::uint64_t> offload_rejected_{0};
  mutable std::atomic<std::uint64_t> handler_exceptions_{0};
};

}  // namespace gatehouse::http
