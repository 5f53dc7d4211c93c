#include "core/clock.h"

namespace gatehouse {

const Clock& SystemClock::Instance() {
  static const SystemClock clock;
  return clock;
}

}  // namespace gatehouse
