#include "core/log.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <unordered_map>

#include <spdlog/logger.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/log_json.h"
#include "core/mask.h"

namespace gatehouse::log {
namespace {

constexpr std::size_t kMaxRateLimitKeys = 1024;
constexpr std::string_view kOverflowKey = "\x01overflow";
// Caps on attacker-supplied access-line fields, so one request cannot write a megabyte line.
constexpr std::size_t kMaxPathBytes = 2048;
constexpr std::size_t kMaxUserAgentBytes = 256;
constexpr std::size_t kMaxShortFieldBytes = 128;  // request_id, method, client_ip.

spdlog::level::level_enum ToSpdlog(Level level) {
  switch (level) {
    case Level::kTrace:
      return spdlog::level::trace;
    case Level::kDebug:
      return spdlog::level::debug;
    case Level::kInfo:
      return spdlog::level::info;
    case Level::kWarn:
      return spdlog::level::warn;
    case Level::kError:
      return spdlog::level::err;
  }
  return spdlog::level::info;
}

// Writes the already-formatted JSON payload into a Capture.
class CaptureSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit CaptureSink(std::shared_ptr<Capture> capture) : capture_(std::move(capture)) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    capture_->Append(std::string_view(msg.payload.data(), msg.payload.size()));
  }
  void flush_() override {}

 private:
  std::shared_ptr<Capture> capture_;
};

// Per-key one-second windows for RateLimited.
class LineBudget {
 public:
  explicit LineBudget(int per_second) : per_second_(per_second) {}

  // Whether a line for `key` may be written now; if so, `suppressed` receives the number of
  // lines dropped since the last one written for that key.
  bool Take(std::string_view key, std::chrono::steady_clock::time_point now,
            std::uint64_t& suppressed) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = windows_.find(std::string(key));
    if (it == windows_.end()) {
      // A bounded map: a caller that passes attacker data as the key cannot grow it forever.
      std::string slot =
          windows_.size() < kMaxRateLimitKeys ? std::string(key) : std::string(kOverflowKey);
      it = windows_.try_emplace(std::move(slot), Window{now, 0, 0}).first;
    }
    Window& window = it->second;
    if (now - window.start >= std::chrono::seconds(1)) {
      window.start = now;
      window.emitted = 0;
    }
    if (window.emitted >= per_second_) {
      ++window.suppressed;
      return false;
    }
    ++window.emitted;
    suppressed = window.suppressed;
    window.suppressed = 0;
    return true;
  }

 private:
  struct Window {
    std::chrono::steady_clock::time_point start;
    int emitted;
    std::uint64_t suppressed;
  };

  const int per_second_;
  std::mutex mutex_;
  std::unordered_map<std::string, Window> windows_;
};

struct State {
  std::shared_ptr<spdlog::logger> app;     // Never null.
  std::shared_ptr<spdlog::logger> access;  // Null when the access log is off.
  const Clock* clock;
  std::unique_ptr<LineBudget> budget;
};

// Level is kept apart from State so that Enabled() is one atomic load.
std::atomic<int> g_level{static_cast<int>(Level::kInfo)};
std::atomic<std::shared_ptr<State>> g_state;

Result<std::shared_ptr<spdlog::logger>> MakeLogger(const std::string& name,
                                                   const std::string& destination,
                                                   const std::shared_ptr<Capture>& capture) {
  spdlog::sink_ptr sink;
  if (destination == "off") {
    return std::shared_ptr<spdlog::logger>();
  } else if (capture != nullptr) {
    sink = std::make_shared<CaptureSink>(capture);
  } else if (destination == "stdout") {
    sink = std::make_shared<spdlog::sinks::stdout_sink_mt>();
  } else if (destination == "stderr") {
    sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  } else {
    // Created 0640 before spdlog opens it: log lines hold client addresses and masked personal
    // data, which other local users have no reason to read.
    int fd = ::open(destination.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0) {
      return Unavailable("cannot open log file",
                         name + " log " + destination + ": " + std::strerror(errno));
    }
    ::close(fd);
    try {
      sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(destination, false);
    } catch (const spdlog::spdlog_ex& e) {
      return Unavailable("cannot open log file", name + " log " + destination + ": " + e.what());
    }
  }
  auto logger = std::make_shared<spdlog::logger>(name, std::move(sink));
  // The payload is a complete JSON object; the pattern adds only the line end.
  logger->set_pattern("%v");
  logger->set_level(spdlog::level::trace);  // Filtering happens before the line is built.
  logger->flush_on(spdlog::level::warn);
  return logger;
}

std::shared_ptr<State> MakeDefaultState() {
  LogOptions defaults;
  auto state = std::make_shared<State>();
  state->app = *MakeLogger("app", defaults.app_log, nullptr);
  state->access = *MakeLogger("access", defaults.access_log, nullptr);
  state->clock = &SystemClock::Instance();
  state->budget = std::make_unique<LineBudget>(defaults.rate_limit_per_second);
  return state;
}

std::shared_ptr<State> CurrentState() {
  std::shared_ptr<State> state = g_state.load();
  if (state != nullptr) return state;
  std::shared_ptr<State> fresh = MakeDefaultState();
  // Another thread may have won the race (or Init may have run); keep whatever is there.
  if (g_state.compare_exchange_strong(state, fresh)) return fresh;
  return state;
}

bool IsReservedKey(std::string_view key) {
  return key == "ts" || key == "level" || key == "logger" || key == "event" || key == "suppressed";
}

// Starts a line: {"ts":...,"level":...,"logger":...,"event":...
std::string BeginLine(const State& state, Level level, std::string_view logger,
                      std::string_view event) {
  std::string line;
  line.reserve(256);
  line += "{\"ts\":";
  AppendJsonString(line, FormatTimestamp(state.clock->Now()));
  line += ",\"level\":\"";
  line += LevelName(level);
  line += "\",\"logger\":\"";
  line += logger;
  line += "\",\"event\":";
  AppendJsonString(line, event);
  return line;
}

void AppendKey(std::string& line, std::string_view key) {
  line += ',';
  AppendJsonString(line, key);
  line += ':';
}

void AppendField(std::string& line, const Field& field) {
  if (IsReservedKey(field.key())) {
    AppendKey(line, "field_" + field.key());
  } else {
    AppendKey(line, field.key());
  }
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string>) {
          AppendJsonString(line, v);
        } else if constexpr (std::is_same_v<T, bool>) {
          line += v ? "true" : "false";
        } else if constexpr (std::is_same_v<T, double>) {
          AppendJsonNumber(line, v);
        } else {
          line += std::to_string(v);
        }
      },
      field.value());
}

void Write(spdlog::logger& logger, Level level, const std::string& line) {
  logger.log(ToSpdlog(level), spdlog::string_view_t(line.data(), line.size()));
}

void EmitEvent(const State& state, Level level, std::string_view event,
               std::span<const Field> fields, std::uint64_t suppressed) {
  std::string line = BeginLine(state, level, "app", event);
  for (const auto& field : fields) AppendField(line, field);
  if (suppressed > 0) {
    AppendKey(line, "suppressed");
    line += std::to_string(suppressed);
  }
  line += '}';
  Write(*state.app, level, line);
}

void AppendCapped(std::string& line, std::string_view key, std::string_view value,
                  std::size_t cap) {
  AppendKey(line, key);
  AppendJsonString(line, core::TruncateUtf8(value, cap));
}

}  // namespace

void Capture::Append(std::string_view line) {
  std::lock_guard<std::mutex> lock(mutex_);
  lines_.emplace_back(line);
}

std::vector<std::string> Capture::Lines() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return lines_;
}

void Capture::Clear() {
  std::lock_guard<std::mutex> lock(mutex_);
  lines_.clear();
}

LogOptions OptionsFromConfig(const core::Config& config) {
  LogOptions options;
  options.level = config.log.level;
  options.app_log = config.log.app_log;
  options.access_log = config.log.access_log;
  return options;
}

Status Init(const LogOptions& options) {
  if (options.rate_limit_per_second < 1) {
    return InvalidArgument("invalid log options", "rate_limit_per_second must be at least 1");
  }
  if (options.app_log == "off") {
    return InvalidArgument("invalid log options", "the app log cannot be off");
  }
  auto state = std::make_shared<State>();
  auto app = MakeLogger("app", options.app_log, options.capture);
  if (!app.ok()) return std::move(app).error();
  auto access = MakeLogger("access", options.access_log, options.capture);
  if (!access.ok()) return std::move(access).error();

  state->app = std::move(*app);
  state->access = std::move(*access);
  state->clock = options.clock != nullptr ? options.clock : &SystemClock::Instance();
  state->budget = std::make_unique<LineBudget>(options.rate_limit_per_second);

  std::shared_ptr<State> old = g_state.exchange(std::move(state));
  g_level.store(static_cast<int>(options.level));
  if (old != nullptr) {
    old->app->flush();
    if (old->access != nullptr) old->access->flush();
  }
  return Ok();
}

bool Enabled(Level level) { return static_cast<int>(level) >= g_level.load(); }

void Flush() {
  std::shared_ptr<State> state = CurrentState();
  state->app->flush();
  if (state->access != nullptr) state->access->flush();
}

Field Field::Email(std::string_view key, std::string_view email) {
  return Field(key, core::MaskEmail(email));
}

Field Field::Phone(std::string_view key, std::string_view phone) {
  return Field(key, core::MaskPhone(phone));
}

Field Field::Ip(std::string_view key, std::string_view ip) { return Field(key, core::MaskIp(ip)); }

Field Field::Redacted(std::string_view key) { return Field(key, core::RedactToken({})); }

void Event(Level level, std::string_view event, std::initializer_list<Field> fields) {
  Event(level, event, std::span<const Field>(fields.begin(), fields.size()));
}

void Event(Level level, std::string_view event, std::span<const Field> fields) {
  if (!Enabled(level)) return;
  std::shared_ptr<State> state = CurrentState();
  EmitEvent(*state, level, event, fields, 0);
}

void RateLimited(std::string_view key, Level level, std::string_view event,
                 std::span<const Field> fields) {
  if (!Enabled(level)) return;
  std::shared_ptr<State> state = CurrentState();
  std::uint64_t suppressed = 0;
  if (!state->budget->Take(key, state->clock->SteadyNow(), suppressed)) return;
  EmitEvent(*state, level, event, fields, suppressed);
}

void RateLimited(std::string_view key, Level level, std::string_view event,
                 std::initializer_list<Field> fields) {
  RateLimited(key, level, event, std::span<const Field>(fields.begin(), fields.size()));
}

void Access(const AccessRecord& record) {
  std::shared_ptr<State> state = CurrentState();
  if (state->access == nullptr) return;

  // The level follows the outcome so that a log pipeline can alert on server errors.
  const Level level = record.status >= 500   ? Level::kError
                      : record.status >= 400 ? Level::kWarn
                                             : Level::kInfo;
  std::string line = BeginLine(*state, level, "access", "http_request");
  AppendKey(line, "time");
  AppendJsonString(line, FormatTimestamp(record.time));
  AppendCapped(line, "request_id", record.request_id, kMaxShortFieldBytes);
  AppendCapped(line, "method", record.method, kMaxShortFieldBytes);
  // Defence in depth: even if a caller passes the raw target, the query never reaches the log.
  std::string_view path = record.path.substr(0, record.path.find_first_of("?#"));
  AppendCapped(line, "path", path, kMaxPathBytes);
  AppendKey(line, "status");
  line += std::to_string(record.status);
  AppendKey(line, "bytes");
  line += std::to_string(record.bytes);
  AppendKey(line, "duration_ms");
  AppendJsonNumber(line, record.duration_ms);
  AppendCapped(line, "client_ip", record.client_ip, kMaxShortFieldBytes);
  AppendCapped(line, "user_agent", record.user_agent, kMaxUserAgentBytes);
  line += '}';
  Write(*state->access, level, line);
}

}  // namespace gatehouse::log
