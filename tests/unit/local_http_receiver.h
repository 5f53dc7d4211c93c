#pragma once

// A plain-HTTP receiver on 127.0.0.1 for tests of outbound requests: it answers each request
// with the next status of a script (the last one repeats), records what it received, and
// can hold a request without answering (to test timeouts). One request per connection.
// Every wait is bounded; the destructor stops the thread.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace gatehouse::testing_support {

struct ReceivedRequest {
  std::string head;  // Request line and header fields.
  std::string body;

  bool HasHeader(const std::string& line) const {
    return head.find("\r\n" + line + "\r\n") != std::string::npos;
  }
};

class LocalHttpReceiver {
 public:
  // `statuses`: the answer to request 1, 2, ...; the last repeats. `hold_ms` > 0: never
  // answer, keep the connection open that long instead.
  explicit LocalHttpReceiver(std::vector<int> statuses, int hold_ms = 0)
      : statuses_(std::move(statuses)), hold_ms_(hold_ms) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(fd_, 16);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Run(); });
  }

  ~LocalHttpReceiver() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }

  std::string url(const std::string& path = "/send") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

  std::vector<ReceivedRequest> requests() const {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

  // Replaces the script; the next request gets statuses[0].
  void SetStatuses(std::vector<int> statuses) {
    std::lock_guard<std::mutex> lock(mu_);
    statuses_ = std::move(statuses);
    script_start_ = requests_.size();
  }

  // Waits up to `timeout` for at least `n` requests.
  bool WaitFor(std::size_t n, std::chrono::milliseconds timeout) const {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return requests_.size() >= n; });
  }

 private:
  void Run() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      const int conn = ::accept(fd_, nullptr, nullptr);
      if (conn < 0) continue;
      Serve(conn);
      ::close(conn);
    }
  }

  // Reads with a deadline; false when the peer went away or time ran out.
  bool ReadMore(int conn, std::string& in, std::chrono::steady_clock::time_point deadline) {
    while (std::chrono::steady_clock::now() < deadline && !stop_) {
      pollfd p{conn, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      char buf[4096];
      const ssize_t n = ::read(conn, buf, sizeof buf);
      if (n <= 0) return false;
      in.append(buf, static_cast<std::size_t>(n));
      return true;
    }
    return false;
  }

  void Serve(int conn) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    std::string in;
    std::size_t head_end;
    while ((head_end = in.find("\r\n\r\n")) == std::string::npos) {
      if (!ReadMore(conn, in, deadline)) return;
    }
    ReceivedRequest request;
    request.head = in.substr(0, head_end + 2);
    std::size_t length = 0;
    const std::string lower = Lower(request.head);
    if (auto at = lower.find("\r\ncontent-length:"); at != std::string::npos) {
      length = std::stoul(request.head.substr(at + 17));
    }
    request.body = in.substr(head_end + 4);
    while (request.body.size() < length) {
      std::string more;
      if (!ReadMore(conn, more, deadline)) return;
      request.body += more;
    }
    int status;
    {
      std::lock_guard<std::mutex> lock(mu_);
      const std::size_t index = requests_.size() - script_start_;
      status = statuses_[std::min(index, statuses_.size() - 1)];
      requests_.push_back(request);
    }
    cv_.notify_all();
    if (hold_ms_ > 0) {
      const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(hold_ms_);
      while (std::chrono::steady_clock::now() < until && !stop_) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      return;
    }
    const std::string body = "{\"status\":" + std::to_string(status) + "}";
    const std::string answer = "HTTP/1.1 " + std::to_string(status) +
                               " Scripted\r\nContent-Type: application/json\r\nContent-Length: " +
                               std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
    (void)::write(conn, answer.data(), answer.size());
  }

  static std::string Lower(std::string text) {
    for (char& c : text) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return text;
  }

  std::vector<int> statuses_;
  int hold_ms_;
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::vector<ReceivedRequest> requests_;
  std::size_t script_start_ = 0;
  std::thread thread_;
};

}  // namespace gatehouse::testing_support
