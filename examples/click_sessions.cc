// Sessions of a click stream, in event time: read clicks ("user,timestamp_ms,page" lines)
// from a file, take each click's time from its record with a bounded out-of-orderness, group
// each user's clicks into session windows that close after a gap without clicks, and write
// one line per session:
//
//   user,session_start,session_end,clicks,first_page,last_page
//
// where session_end is the last click plus the gap (Flink's session window end). Lines that do
// not parse, and clicks too late for their session (behind the watermark by more than the
// allowed lateness), are written to the rejected file: nothing is lost.
//
//   click_sessions --input FILE --output FILE [--rejected FILE] [--gap-ms N]
//                  [--out-of-orderness-ms N] [--allowed-lateness-ms N] [-p N] [-D key=value ...]

#include <strom/strom.h>

#include <CLI/CLI.hpp>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "example_args.h"

namespace {

struct Click {
  std::string user;
  int64_t timestamp = 0;
  std::string page;
  STROM_FIELDS(user, timestamp, page)
};

/// Parse "user,timestamp_ms,page"; nullopt if the line is not of that form.
std::optional<Click> parseClick(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  size_t first = line.find(',');
  if (first == std::string_view::npos || first == 0) return std::nullopt;
  size_t second = line.find(',', first + 1);
  if (second == std::string_view::npos || second + 1 >= line.size()) return std::nullopt;
  Click click;
  std::string_view time = line.substr(first + 1, second - first - 1);
  auto [end, error] = std::from_chars(time.data(), time.data() + time.size(), click.timestamp);
  if (error != std::errc() || end != time.data() + time.size() || click.timestamp < 0) {
    return std::nullopt;
  }
  click.user = std::string(line.substr(0, first));
  click.page = std::string(line.substr(second + 1));
  return click;
}

const strom::OutputTag<std::string>& malformedTag() {
  static const strom::OutputTag<std::string> tag("malformed");
  return tag;
}
const strom::OutputTag<Click>& lateTag() {
  static const strom::OutputTag<Click> tag("late");
  return tag;
}

/// Turns lines into clicks; lines that do not parse go to the "malformed" side output.
class ParseClicks final : public strom::ProcessFunction<std::string, Click> {
 public:
  void processElement(const std::string& line, Context& ctx,
                      strom::Collector<Click>& out) override {
    if (line.empty()) return;
    if (std::optional<Click> click = parseClick(line)) {
      out.collect(std::move(*click));
    } else {
      ctx.output(malformedTag(), "malformed: " + line);
    }
  }
};

/// The running summary of one session: how many clicks, and the first and last click.
struct SessionSummary {
  int64_t clicks = 0;
  int64_t firstTime = INT64_MAX;
  std::string firstPage;
  int64_t lastTime = INT64_MIN;
  std::string lastPage;
  STROM_FIELDS(clicks, firstTime, firstPage, lastTime, lastPage)
};

/// Summarizes a session incrementally (the window keeps one summary, not the clicks); merge
/// joins the summaries of sessions that a late click bridges.
struct SummarizeSession {
  SessionSummary createAccumulator() const { return {}; }
  SessionSummary add(const Click& click, SessionSummary acc) const {
    ++acc.clicks;
    // Ties keep the page that sorts first, so the result does not depend on arrival order.
    if (click.timestamp < acc.firstTime ||
        (click.timestamp == acc.firstTime && click.page < acc.firstPage)) {
      acc.firstTime = click.timestamp;
      acc.firstPage = click.page;
    }
    if (click.timestamp > acc.lastTime ||
        (click.timestamp == acc.lastTime && click.page < acc.lastPage)) {
      acc.lastTime = click.timestamp;
      acc.lastPage = click.page;
    }
    return acc;
  }
  SessionSummary getResult(const SessionSummary& acc) const { return acc; }
  SessionSummary merge(SessionSummary a, const SessionSummary& b) const {
    a.clicks += b.clicks;
    if (b.firstTime < a.firstTime || (b.firstTime == a.firstTime && b.firstPage < a.firstPage)) {
      a.firstTime = b.firstTime;
      a.firstPage = b.firstPage;
    }
    if (b.lastTime > a.lastTime || (b.lastTime == a.lastTime && b.lastPage < a.lastPage)) {
      a.lastTime = b.lastTime;
      a.lastPage = b.lastPage;
    }
    return a;
  }
};

/// Formats a session with its window and user.
class FormatSession final
    : public strom::ProcessWindowFunction<SessionSummary, std::string, std::string> {
 public:
  void process(const std::string& user, Context& ctx, std::span<const SessionSummary> summaries,
               strom::Collector<std::string>& out) override {
    for (const SessionSummary& s : summaries) {
      out.collect(user + "," + std::to_string(ctx.window().start) + "," +
                  std::to_string(ctx.window().end) + "," + std::to_string(s.clicks) + "," +
                  s.firstPage + "," + s.lastPage);
    }
  }
};

strom::Status build(strom::StreamExecutionEnvironment& env, const strom::JobArgs& args) {
  CLI::App app{"Click sessions: one line per user session of a click stream, in event time.",
               args.programName()};
  std::string input;
  std::string output;
  std::string rejected;
  int64_t gapMs = 30 * 60 * 1000;
  int64_t outOfOrdernessMs = 20'000;
  int64_t allowedLatenessMs = 0;
  int parallelism = 1;
  std::vector<std::string> options;
  app.add_option("--input", input, "clicks to read: user,timestamp_ms,page lines")->required();
  app.add_option("--output", output, "file to write the sessions to")->required();
  app.add_option("--rejected", rejected,
                 "file for malformed lines and late clicks (default: OUTPUT.rejected)");
  app.add_option("--gap-ms", gapMs, "a session ends after this long without clicks")
      ->check(CLI::PositiveNumber);
  app.add_option("--out-of-orderness-ms", outOfOrdernessMs,
                 "how far behind the latest click a click may arrive")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--allowed-lateness-ms", allowedLatenessMs,
                 "how long a closed session still takes late clicks (updating its line)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("-p,--parallelism", parallelism, "parallelism of the sessionizing");
  app.add_option("-D", options, "configuration override key=value (repeatable)")
      ->allow_extra_args(false);
  STROM_RETURN_IF_ERROR(examples::parseArgs(app, args,
                                            "--input FILE --output FILE [--rejected FILE] "
                                            "[--gap-ms N] [--out-of-orderness-ms N] "
                                            "[--allowed-lateness-ms N] [-p N] [-D key=value]..."));
  STROM_RETURN_IF_ERROR(examples::applyOptions(env, options));
  if (rejected.empty()) rejected = output + ".rejected";
  env.setParallelism(parallelism);

  auto clicks = env.readTextFile(input).setParallelism(1).process(ParseClicks()).name("Parse");
  auto sessions =
      clicks
          .assignTimestampsAndWatermarks(
              strom::WatermarkStrategy<Click>::forBoundedOutOfOrderness(
                  std::chrono::milliseconds(outOfOrdernessMs))
                  .withTimestampAssigner([](const Click& c, int64_t) { return c.timestamp; }))
          .keyBy([](const Click& c) { return c.user; })
          .window(strom::EventTimeSessionWindows::withGap(std::chrono::milliseconds(gapMs)))
          .allowedLateness(std::chrono::milliseconds(allowedLatenessMs))
          .sideOutputLateData(lateTag())
          .aggregate(SummarizeSession{}, FormatSession())
          .name("Sessions");
  sessions.writeAsText(output).name("Sessions File").setParallelism(1);
  clicks.getSideOutput(malformedTag())
      .unionWith(sessions.getSideOutput(lateTag()).map([](const Click& c) {
        return "late: " + c.user + "," + std::to_string(c.timestamp) + "," + c.page;
      }))
      .writeAsText(rejected)
      .name("Rejected File")
      .setParallelism(1);
  return strom::Status::ok();
}

}  // namespace

STROM_JOB(build)
