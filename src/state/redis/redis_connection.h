#pragma once

// One pipelined connection to a Redis server, served by its own client thread.
//
// Callers hand in fully encoded commands with a deadline and a completion. The
// thread gathers everything queued since its last turn, writes it in one send(),
// and matches replies to commands in order (RESP replies arrive in request order),
// parsing them with hiredis' redisReader. So N concurrent callers cost about one
// write and one read, not N round trips.
//
// Failure behaviour, the contract the state store relies on:
// - Down (not connected, or reconnecting): Submit completes at once, on the calling
//   thread, with kUnavailable. Nothing waits for a server that is not there.
// - A command whose deadline passes is completed with kUnavailable at the deadline;
//   its reply, if it ever comes, is read and dropped to keep the order.
// - No reply bytes for `stall_timeout` while commands wait: the connection is taken
//   for dead (a silent network partition never reports itself otherwise) and closed.
// - On any connection failure every queued and in-flight command completes with
//   kUnavailable; the thread reconnects with exponential backoff (50 ms .. 2 s).
// - One log line per change of state (down, up), never one per failed call.
//
// Completions run on the client thread (or the submitting thread, for an immediate
// failure). REQUIRES: they are quick, never block, and never wait for another
// command on this connection. They may Submit further commands.
//
// Thread safety: Submit, up and counters may be called from any thread.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <initializer_list>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/secret.h"
#include "core/status.h"

namespace gatehouse::state::redis {

// A RESP2 reply. Error replies are values here (kError, text in `string`); what they
// mean depends on the command, so the caller maps them.
struct Reply {
  enum class Kind : std::uint8_t { kNil, kInteger, kString, kStatus, kArray, kError };
  Kind kind = Kind::kNil;
  std::int64_t integer = 0;
  std::string string;
  std::vector<Reply> elements;
};

// Appends one command in RESP form ("*N\r\n$len\r\narg\r\n...") to `out`.
void AppendCommand(std::string& out, std::span<const std::string_view> args);
inline void AppendCommand(std::string& out, std::initializer_list<std::string_view> args) {
  AppendCommand(out, std::span<const std::string_view>(args.begin(), args.size()));
}

struct Endpoint {
  std::string host;
  std::uint16_t port = 6379;
  std::string username;  // Empty: AUTH with the password only.
  Secret password;       // Empty: no AUTH.
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds stall_timeout{2000};
  // Queued plus in-flight commands beyond which Submit refuses (kUnavailable), so
  // a slow server cannot make callers pile up memory without bound.
  std::size_t max_outstanding = 100'000;
};

class Connection {
 public:
  using Clock = std::chrono::steady_clock;
  using Done = std::function<void(Result<Reply>)>;

  struct Counters {
    std::uint64_t commands = 0;     // Commands written to a socket.
    std::uint64_t writes = 0;       // send() calls that wrote command bytes.
    std::uint64_t connects = 0;     // Successful connections (first one included).
    std::uint64_t timeouts = 0;     // Commands completed at their deadline.
    std::uint64_t failed_fast = 0;  // Refused at once: down or overloaded.
    bool up = false;
  };

  // Starts the client thread, which connects at once.
  explicit Connection(Endpoint endpoint);
  // Stops the thread; pending commands complete with kUnavailable.
  ~Connection();

  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Waits until the first connection attempt has finished; its outcome.
  Status WaitFirstAttempt();

  // Queues one encoded command. `done` is called exactly once.
  void Submit(std::string wire, Clock::time_point deadline, Done done);

  bool up() const { return up_.load(std::memory_order_acquire); }
  Counters counters() const;

 private:
  struct Pending {
    std::string wire;
    Clock::time_point deadline;
    Done done;
  };
  struct InFlight {
    Clock::time_point deadline;
    Done done;  // Empty once completed by its deadline.
  };

  void Run();
  Status Connect();
  // Serves the open connection until it fails or the connection stops; returns why.
  std::string Serve();
  void MarkUp();
  void MarkDown(const std::string& reason);
  void FinishFirstAttempt(const Status& status);
  // Blocks until `deadline` or a wake-up (Submit, shutdown).
  void WaitForWake(Clock::time_point deadline);
  void DrainWake();
  void CloseSocket();

  const Endpoint endpoint_;
  int wake_fd_ = -1;  // eventfd: Submit and the destructor wake the thread through it.
  int fd_ = -1;       // Owned by the client thread.

  mutable std::mutex mutex_;
  std::vector<Pending> queue_;   // Guarded by mutex_.
  bool wake_pending_ = false;    // Guarded by mutex_.
  bool stopping_ = false;        // Guarded by mutex_.
  std::atomic<bool> up_{false};  // Written under mutex_, read anywhere.

  std::deque<InFlight> in_flight_;  // Client thread only.
  std::atomic<std::size_t> outstanding_{0};

  std::mutex first_mutex_;
  std::condition_variable first_cv_;
  std::optional<Status> first_attempt_;  // Guarded by first_mutex_.

  enum class Reported : std::uint8_t { kNothing, kUp, kDown };
  Reported reported_ = Reported::kNothing;  // Client thread only.

  std::atomic<std::uint64_t> commands_{0};
  std::atomic<std::uint64_t> writes_{0};
  std::atomic<std::uint64_t> connects_{0};
  std::atomic<std::uint64_t> timeouts_{0};
  std::atomic<std::uint64_t> failed_fast_{0};

  std::thread thread_;  // Last: starts after every member above exists.
};

}  // namespace gatehouse::state::redis
