#include "state/redis/redis_connection.h"

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cstring>
#include <memory>
#include <utility>

#include "core/log.h"

namespace gatehouse::state::redis {
namespace {

constexpr std::chrono::milliseconds kMinBackoff{50};
constexpr std::chrono::milliseconds kMaxBackoff{2000};
constexpr std::size_t kReadChunk = 64 * 1024;

struct ReaderFree {
  void operator()(redisReader* reader) const { redisReaderFree(reader); }
};
using ReaderPtr = std::unique_ptr<redisReader, ReaderFree>;

struct ReplyFree {
  void operator()(redisReply* reply) const { freeReplyObject(reply); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyFree>;

Error Down(std::string detail) { return Unavailable("state store unavailable", std::move(detail)); }

std::string ErrnoText(int err) { return std::strerror(err); }

Reply Convert(const redisReply& raw) {
  Reply reply;
  switch (raw.type) {
    case REDIS_REPLY_STRING:
      reply.kind = Reply::Kind::kString;
      reply.string.assign(raw.str, raw.len);
      break;
    case REDIS_REPLY_STATUS:
      reply.kind = Reply::Kind::kStatus;
      reply.string.assign(raw.str, raw.len);
      break;
    case REDIS_REPLY_ERROR:
      reply.kind = Reply::Kind::kError;
      reply.string.assign(raw.str, raw.len);
      break;
    case REDIS_REPLY_INTEGER:
      reply.kind = Reply::Kind::kInteger;
      reply.integer = raw.integer;
      break;
    case REDIS_REPLY_ARRAY:
      reply.kind = Reply::Kind::kArray;
      reply.elements.reserve(raw.elements);
      for (std::size_t i = 0; i < raw.elements; ++i) {
        reply.elements.push_back(Convert(*raw.element[i]));
      }
      break;
    default:
      reply.kind = Reply::Kind::kNil;
      break;
  }
  return reply;
}

// The next complete reply in `reader`: a value, nullopt when more bytes are needed,
// or an error when the stream is not RESP (the connection is then unusable).
Result<std::optional<Reply>> NextReply(redisReader* reader) {
  void* raw = nullptr;
  if (redisReaderGetReply(reader, &raw) != REDIS_OK) {
    return Down(std::string("redis protocol error: ") + reader->errstr);
  }
  if (raw == nullptr) return std::optional<Reply>();
  ReplyPtr reply(static_cast<redisReply*>(raw));
  return std::optional<Reply>(Convert(*reply));
}

int PollTimeoutMs(Connection::Clock::time_point now, Connection::Clock::time_point deadline) {
  if (deadline == Connection::Clock::time_point::max()) return -1;
  if (deadline <= now) return 0;
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
  return static_cast<int>(std::min<std::int64_t>(ms, INT_MAX));
}

}  // namespace

void AppendCommand(std::string& out, std::span<const std::string_view> args) {
  char number[24];
  auto append_header = [&](char type, std::size_t n) {
    out.push_back(type);
    auto [end, ec] = std::to_chars(number, number + sizeof(number), n);
    out.append(number, end);
    out.append("\r\n");
  };
  append_header('*', args.size());
  for (std::string_view arg : args) {
    append_header('$', arg.size());
    out.append(arg);
    out.append("\r\n");
  }
}

Connection::Connection(Endpoint endpoint) : endpoint_(std::move(endpoint)) {
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  thread_ = std::thread([this] { Run(); });
}

Connection::~Connection() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    up_.store(false, std::memory_order_release);
  }
  const std::uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof(one));
  thread_.join();
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

Status Connection::WaitFirstAttempt() {
  std::unique_lock lock(first_mutex_);
  first_cv_.wait(lock, [&] { return first_attempt_.has_value(); });
  return *first_attempt_;
}

void Connection::FinishFirstAttempt(const Status& status) {
  std::lock_guard lock(first_mutex_);
  if (first_attempt_) return;
  first_attempt_.emplace(status);
  first_cv_.notify_all();
}

void Connection::Submit(std::string wire, Clock::time_point deadline, Done done) {
  enum class Refusal : std::uint8_t { kNone, kDown, kOverloaded };
  Refusal refusal = Refusal::kNone;
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    if (!up_.load(std::memory_order_relaxed) || stopping_) {
      refusal = Refusal::kDown;
    } else if (outstanding_.load(std::memory_order_relaxed) >= endpoint_.max_outstanding) {
      refusal = Refusal::kOverloaded;
    } else {
      outstanding_.fetch_add(1, std::memory_order_relaxed);
      queue_.push_back(Pending{std::move(wire), deadline, std::move(done)});
      wake = !wake_pending_;
      wake_pending_ = true;
    }
  }

  // Fail fast while down or overloaded: the caller decides (fails closed) now rather
  // than after a timeout, and nothing piles up behind a dead or slow server. Called
  // outside the lock, since a completion may submit again.
  if (refusal != Refusal::kNone) {
    failed_fast_.fetch_add(1, std::memory_order_relaxed);
    done(Down(refusal == Refusal::kDown
                  ? "redis connection is down"
                  : "redis client overloaded: too many commands outstanding"));
    return;
  }
  if (wake) {
    const std::uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof(one));
  }
}

Connection::Counters Connection::counters() const {
  Counters c;
  c.commands = commands_.load(std::memory_order_relaxed);
  c.writes = writes_.load(std::memory_order_relaxed);
  c.connects = connects_.load(std::memory_order_relaxed);
  c.timeouts = timeouts_.load(std::memory_order_relaxed);
  c.failed_fast = failed_fast_.load(std::memory_order_relaxed);
  c.up = up();
  return c;
}

void Connection::Run() {
  if (wake_fd_ < 0) {
    // Without a wake-up channel queued commands would wait for nothing: stay down,
    // so every call fails fast instead.
    FinishFirstAttempt(Down("cannot create the redis client's eventfd"));
    return;
  }
  auto backoff = kMinBackoff;
  while (true) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) break;
    }

    Status connected = Connect();
    if (!connected.ok()) {
      CloseSocket();
      if (reported_ != Reported::kDown) {
        log::Event(log::Level::kError, "state_redis_down",
                   {{"host", endpoint_.host},
                    {"port", endpoint_.port},
                    {"reason", connected.error().detail()}});
        reported_ = Reported::kDown;
      }
      FinishFirstAttempt(connected);
      // Backoff, so a restarting server is not hammered by every instance at once.
      WaitForWake(Clock::now() + backoff);
      backoff = std::min(backoff * 2, kMaxBackoff);
      continue;
    }

    backoff = kMinBackoff;
    MarkUp();
    FinishFirstAttempt(Ok());
    const std::string reason = Serve();
    MarkDown(reason);
  }
  FinishFirstAttempt(Down("redis client is shutting down"));
}

void Connection::WaitForWake(Clock::time_point deadline) {
  while (true) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
    }
    const auto now = Clock::now();
    if (now >= deadline) return;
    pollfd wake{wake_fd_, POLLIN, 0};
    if (::poll(&wake, 1, PollTimeoutMs(now, deadline)) > 0) DrainWake();
  }
}

void Connection::DrainWake() {
  std::uint64_t count = 0;
  (void)!::read(wake_fd_, &count, sizeof(count));
}

void Connection::CloseSocket() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Status Connection::Connect() {
  const auto deadline = Clock::now() + endpoint_.connect_timeout;
  const std::string where = endpoint_.host + ":" + std::to_string(endpoint_.port);

  // Resolve. getaddrinfo may block on DNS; that is fine here, on the client thread.
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int gai =
      ::getaddrinfo(endpoint_.host.c_str(), std::to_string(endpoint_.port).c_str(), &hints, &found);
  if (gai != 0) return Down("cannot resolve redis host " + where + ": " + ::gai_strerror(gai));
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> addresses(found, &::freeaddrinfo);

  // Connect to the first address that answers within the timeout.
  std::string last_error = "no address";
  for (const addrinfo* ai = addresses.get(); ai != nullptr && fd_ < 0; ai = ai->ai_next) {
    const int fd = ::socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      last_error = ErrnoText(errno);
      continue;
    }
    int rc = ::connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd pfd{fd, POLLOUT, 0};
      rc = ::poll(&pfd, 1, PollTimeoutMs(Clock::now(), deadline)) > 0 ? 0 : -1;
      int err = rc == 0 ? 0 : ETIMEDOUT;
      socklen_t len = sizeof(err);
      if (rc == 0) ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      errno = err;
      rc = err == 0 ? 0 : -1;
    }
    if (rc != 0) {
      last_error = ErrnoText(errno);
      ::close(fd);
      continue;
    }
    fd_ = fd;
  }
  if (fd_ < 0) return Down("cannot connect to redis at " + where + ": " + last_error);

  const int on = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
  ::setsockopt(fd_, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));

  // Handshake: AUTH (when configured) and PING, pipelined, checked before the
  // connection is offered to callers.
  std::string hello;
  std::size_t expected = 1;
  if (!endpoint_.password.empty()) {
    if (endpoint_.username.empty()) {
      AppendCommand(hello, {"AUTH", endpoint_.password.reveal()});
    } else {
      AppendCommand(hello, {"AUTH", endpoint_.username, endpoint_.password.reveal()});
    }
    expected = 2;
  }
  AppendCommand(hello, {"PING"});

  std::size_t sent = 0;
  while (sent < hello.size()) {
    const ssize_t n = ::send(fd_, hello.data() + sent, hello.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR) break;
    pollfd pfd{fd_, POLLOUT, 0};
    if (::poll(&pfd, 1, PollTimeoutMs(Clock::now(), deadline)) <= 0) break;
  }
  // The buffer held the password.
  SecureWipe(hello);
  if (sent < hello.size()) return Down("cannot send the redis handshake to " + where);

  ReaderPtr reader(redisReaderCreate());
  std::string buffer(4096, '\0');
  for (std::size_t got = 0; got < expected;) {
    auto reply = NextReply(reader.get());
    if (!reply.ok()) return std::move(reply).error();
    if (reply->has_value()) {
      const Reply& r = **reply;
      if (r.kind == Reply::Kind::kError) {
        // Redis error texts name the problem (WRONGPASS, NOAUTH), never the password.
        return Down(
            (expected == 2 && got == 0 ? "redis refused AUTH at " : "redis refused PING at ") +
            where + ": " + r.string);
      }
      ++got;
      continue;
    }
    pollfd pfd{fd_, POLLIN, 0};
    if (::poll(&pfd, 1, PollTimeoutMs(Clock::now(), deadline)) <= 0) {
      return Down("redis at " + where + " did not answer the handshake in time");
    }
    const ssize_t n = ::recv(fd_, buffer.data(), buffer.size(), 0);
    if (n == 0) return Down("redis at " + where + " closed the connection during the handshake");
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      return Down("reading from redis at " + where + ": " + ErrnoText(errno));
    }
    redisReaderFeed(reader.get(), buffer.data(), static_cast<std::size_t>(n));
  }
  return Ok();
}

void Connection::MarkUp() {
  {
    std::lock_guard lock(mutex_);
    up_.store(true, std::memory_order_release);
  }
  connects_.fetch_add(1, std::memory_order_relaxed);
  if (reported_ != Reported::kUp) {
    log::Event(log::Level::kInfo, "state_redis_up",
               {{"host", endpoint_.host}, {"port", endpoint_.port}});
    reported_ = Reported::kUp;
  }
}

void Connection::MarkDown(const std::string& reason) {
  std::vector<Pending> queued;
  bool stopping = false;
  {
    std::lock_guard lock(mutex_);
    up_.store(false, std::memory_order_release);
    queued.swap(queue_);
    wake_pending_ = false;
    stopping = stopping_;
  }
  CloseSocket();

  // Everything waiting learns now; none of it will get a reply on a new connection.
  std::deque<InFlight> in_flight;
  in_flight.swap(in_flight_);
  outstanding_.fetch_sub(queued.size() + in_flight.size(), std::memory_order_relaxed);
  for (InFlight& command : in_flight) {
    if (command.done) command.done(Down("redis connection lost: " + reason));
  }
  for (Pending& command : queued) command.done(Down("redis connection lost: " + reason));

  if (!stopping && reported_ != Reported::kDown) {
    log::Event(log::Level::kError, "state_redis_down",
               {{"host", endpoint_.host}, {"port", endpoint_.port}, {"reason", reason}});
    reported_ = Reported::kDown;
  }
}

std::string Connection::Serve() {
  ReaderPtr reader(redisReaderCreate());
  std::string out;           // Encoded commands not yet written.
  std::size_t out_sent = 0;  // Bytes of `out` already written.
  std::string buffer(kReadChunk, '\0');
  std::size_t expired_prefix = 0;  // Leading in_flight_ entries already timed out.
  auto last_read = Clock::now();
  auto waiting_since = last_read;

  while (true) {
    // 1. Take everything queued since the last turn: this is where pipelining happens.
    std::vector<Pending> batch;
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return "client shutting down";
      batch.swap(queue_);
      wake_pending_ = false;
    }
    if (!batch.empty()) {
      if (in_flight_.empty()) waiting_since = Clock::now();
      for (Pending& command : batch) {
        out.append(command.wire);
        in_flight_.push_back(InFlight{command.deadline, std::move(command.done)});
      }
      commands_.fetch_add(batch.size(), std::memory_order_relaxed);
    }

    // 2. Write what is pending, in one call when the socket takes it all.
    if (out_sent < out.size()) {
      const ssize_t n = ::send(fd_, out.data() + out_sent, out.size() - out_sent, MSG_NOSIGNAL);
      if (n > 0) {
        writes_.fetch_add(1, std::memory_order_relaxed);
        out_sent += static_cast<std::size_t>(n);
        if (out_sent == out.size()) {
          out.clear();
          out_sent = 0;
        }
      } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
        return "write failed: " + ErrnoText(errno);
      }
    }

    // 3. Commands past their deadline complete now; their replies are dropped later.
    auto now = Clock::now();
    while (expired_prefix < in_flight_.size() && in_flight_[expired_prefix].deadline <= now) {
      InFlight& command = in_flight_[expired_prefix++];
      if (!command.done) continue;
      timeouts_.fetch_add(1, std::memory_order_relaxed);
      Done done = std::move(command.done);
      command.done = nullptr;
      done(Down("redis did not answer within the call timeout"));
    }
    if (!in_flight_.empty() &&
        now - std::max(last_read, waiting_since) >= endpoint_.stall_timeout) {
      return "no reply for " + std::to_string(endpoint_.stall_timeout.count()) + " ms";
    }

    // 4. Wait for replies, room to write, new commands, or the next deadline.
    auto next = Clock::time_point::max();
    if (expired_prefix < in_flight_.size()) next = in_flight_[expired_prefix].deadline;
    if (!in_flight_.empty()) {
      next = std::min(next, std::max(last_read, waiting_since) + endpoint_.stall_timeout);
    }
    pollfd fds[2] = {{fd_, static_cast<short>(POLLIN | (out_sent < out.size() ? POLLOUT : 0)), 0},
                     {wake_fd_, POLLIN, 0}};
    if (::poll(fds, 2, PollTimeoutMs(now, next)) < 0 && errno != EINTR) {
      return "poll failed: " + ErrnoText(errno);
    }
    if (fds[1].revents & POLLIN) DrainWake();
    if ((fds[0].revents & (POLLIN | POLLERR | POLLHUP)) == 0) continue;

    // 5. Read and hand out replies, in request order.
    const ssize_t n = ::recv(fd_, buffer.data(), buffer.size(), 0);
    if (n == 0) return "connection closed by the server";
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      return "read failed: " + ErrnoText(errno);
    }
    last_read = Clock::now();
    if (redisReaderFeed(reader.get(), buffer.data(), static_cast<std::size_t>(n)) != REDIS_OK) {
      return std::string("redis protocol error: ") + reader->errstr;
    }
    while (true) {
      auto reply = NextReply(reader.get());
      if (!reply.ok()) return reply.error().detail();
      if (!reply->has_value()) break;
      if (in_flight_.empty()) return "reply without a command";
      InFlight command = std::move(in_flight_.front());
      in_flight_.pop_front();
      if (expired_prefix > 0) --expired_prefix;
      outstanding_.fetch_sub(1, std::memory_order_relaxed);
      if (command.done) command.done(std::move(**reply));
    }
  }
}

}  // namespace gatehouse::state::redis
