#pragma once

#include <string>

#include "connectors/nexmark/nexmark_events.h"

namespace strom::nexmark {

/// Append `event` of split `split` to `out` as one line of the golden files' JSON Lines format
/// (../shared/nexmark/README.md): a compact object with keys split, ts, wm, type, then the
/// fields of the event in model order, strings escaped as Python's json.dumps does, and "\n".
void appendJsonLine(std::string& out, int split, const NexmarkEvent& event);

}  // namespace strom::nexmark
