#include "bench/nexmark/harness.h"

#include <strom/strom.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <exception>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <vector>

#include "connectors/nexmark/nexmark_json.h"
#include "connectors/nexmark/nexmark_source.h"

namespace strom::nexmark {
namespace {

std::mutex& registryMutex() {
  static std::mutex mu;
  return mu;
}

std::map<int, std::unique_ptr<Query>>& registry() {
  static std::map<int, std::unique_ptr<Query>> queries;  // by query number
  return queries;
}

/// 5 for "q5"; -1 for anything else.
int queryNumber(std::string_view name) {
  if (name.size() < 2 || name.size() > 3 || name[0] != 'q') return -1;
  int number = 0;
  for (char c : name.substr(1)) {
    if (c < '0' || c > '9') return -1;
    number = number * 10 + (c - '0');
  }
  return number;
}

double processCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

double wallSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

/// A scratch directory for a query's own files, removed when this goes out of scope.
class ScratchDir {
 public:
  static Result<ScratchDir> create() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "strom-nexmark-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) {
      return Status::ioError("cannot create a scratch directory in " +
                             std::filesystem::temp_directory_path().string());
    }
    return ScratchDir(pattern);
  }
  ScratchDir(ScratchDir&& other) noexcept : path_(std::move(other.path_)) { other.path_.clear(); }
  ScratchDir& operator=(ScratchDir&&) = delete;
  ~ScratchDir() {
    if (path_.empty()) return;
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  explicit ScratchDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

QueryContext makeContext(const NexmarkOptions& options, const Configuration& configuration,
                         const std::string& workDir) {
  QueryContext ctx;
  ctx.config = options.config;
  ctx.parallelism = options.parallelism;
  ctx.configuration = configuration;
  ctx.workDir = workDir;
  return ctx;
}

Result<Configuration> configurationOf(const NexmarkOptions& options) {
  Configuration configuration;
  for (const std::string& option : options.dynamicOptions) {
    STROM_RETURN_IF_ERROR(configuration.setFromString(option));
  }
  return configuration;
}

std::string withThousands(int64_t value) {
  std::string digits = std::to_string(value);
  std::string out;
  int count = 0;
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
    if (count > 0 && count % 3 == 0 && *it != '-') out += ',';
    out += *it;
    ++count;
  }
  std::reverse(out.begin(), out.end());
  return out;
}

std::string perSecond(double value) {
  char buffer[64];
  if (value >= 1e6) {
    std::snprintf(buffer, sizeof buffer, "%.2f M/s", value / 1e6);
  } else {
    std::snprintf(buffer, sizeof buffer, "%.2f K/s", value / 1e3);
  }
  return buffer;
}

std::string fixed(double value, int digits) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", digits, value);
  return buffer;
}

/// The table the reference harness prints, with the loop's figures and the ratio added.
class ResultTable {
 public:
  ResultTable() {
    addRow({"Nexmark Query", "Events Num", "Cores", "Time(s)", "Cores * Time(s)",
            "Throughput/Cores", "Loop Throughput", "Strom/Loop"});
  }
  void addRow(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }
  void print() const {
    std::vector<size_t> widths(rows_.front().size(), 0);
    for (const auto& row : rows_) {
      for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size() + 2);
    }
    std::string rule = "+";
    for (size_t w : widths) rule += std::string(w, '-') + "+";
    std::printf(
        "\n-------------------------------- Nexmark Results "
        "--------------------------------\n\n%s\n",
        rule.c_str());
    for (size_t r = 0; r < rows_.size(); ++r) {
      std::string line = "|";
      for (size_t i = 0; i < rows_[r].size(); ++i) {
        line += " " + rows_[r][i] + std::string(widths[i] - rows_[r][i].size() - 1, ' ') + "|";
      }
      std::printf("%s\n", line.c_str());
      if (r == 0 || r + 1 == rows_.size()) std::printf("%s\n", rule.c_str());
    }
    std::fflush(stdout);
  }

 private:
  std::vector<std::vector<std::string>> rows_;
};

/// CLI11 validators whose messages name the rule, not a floating-point range.
CLI::Validator integerAtLeast(int64_t least, const std::string& what) {
  return CLI::Validator(
      [least, what](std::string& value) -> std::string {
        size_t used = 0;
        long long parsed = 0;
        try {
          parsed = std::stoll(value, &used);
        } catch (const std::exception&) {
          used = 0;
        }
        if (used == 0 || used != value.size() || parsed < least) {
          return "must be " + what + ", not '" + value + "'";
        }
        return "";
      },
      what);
}

constexpr const char* kUsage =
    "strom-nexmark --query qN|all [--events N] [--generators G] [--rate R] [--base-time MS] "
    "[--seed S] [--parallelism P] [--output FILE] [--dump-events FILE] [-D key=value ...]";

}  // namespace

bool registerQuery(std::unique_ptr<Query> query) {
  std::lock_guard lock(registryMutex());
  int number = queryNumber(query->name());
  registry()[number] = std::move(query);
  return true;
}

std::vector<const Query*> allQueries() {
  std::lock_guard lock(registryMutex());
  std::vector<const Query*> queries;
  for (const auto& [number, query] : registry()) queries.push_back(query.get());
  return queries;
}

const Query* findQuery(std::string_view name) {
  std::lock_guard lock(registryMutex());
  auto it = registry().find(queryNumber(name));
  return it == registry().end() ? nullptr : it->second.get();
}

Result<NexmarkOptions> parseNexmarkOptions(const std::vector<std::string>& args) {
  NexmarkOptions options;
  NexmarkConfig& config = options.config;
  // The reference harness's workload defaults: 10 M events/s of event time (its TPS), and a
  // fixed base time so that a run is reproducible (the reference uses the clock).
  config.maxEvents = 10'000'000;
  config.firstEventRate = 10'000'000;
  config.baseTime = 1'600'000'000'000;
  std::string query;
  int generators = 0;

  CLI::App app(
      "Runs Nexmark queries on Strom: writes a query's result (--output), or prints "
      "throughput per core next to a hand-written loop doing the same work.",
      "strom-nexmark");
  app.add_option("--query", query, "the query, q0 ... q22, or all (benchmark mode only)")
      ->required();
  app.add_option("--events", config.maxEvents, "number of events (default 10,000,000)")
      ->check(integerAtLeast(1, "a positive integer"));
  app.add_option("--generators", generators,
                 "number of generators (splits; the reference's numEventGenerators; default: the "
                 "parallelism)")
      ->check(integerAtLeast(1, "a positive integer"));
  app.add_option("--rate", config.firstEventRate,
                 "events per second of event time, all generators together (default 10,000,000)")
      ->check(integerAtLeast(1, "a positive integer"));
  app.add_option("--base-time", config.baseTime,
                 "timestamp of the first event, ms since the epoch (default 1,600,000,000,000)")
      ->check(integerAtLeast(0, "a non-negative integer"));
  app.add_option("--first-event-id", config.firstEventId, "id of the first event (default 1)")
      ->check(integerAtLeast(0, "a non-negative integer"));
  app.add_option("--seed", config.seed, "seed of the generator's randoms (default 0)");
  app.add_option("-p,--parallelism", options.parallelism, "parallelism of the query (default 1)")
      ->check(integerAtLeast(1, "a positive integer"));
  app.add_option("--output", options.output,
                 "result mode: write the result to this file (q10: this directory)");
  app.add_option("--dump-events", options.dumpEvents,
                 "also write the generated events to this file as JSON Lines");
  app.add_option("-D", options.dynamicOptions, "configuration override key=value (repeatable)");
  app.add_option("--person-proportion", config.personProportion, "default 1")
      ->check(integerAtLeast(0, "a non-negative integer"));
  app.add_option("--auction-proportion", config.auctionProportion, "default 3")
      ->check(integerAtLeast(0, "a non-negative integer"));
  app.add_option("--bid-proportion", config.bidProportion, "default 46")
      ->check(integerAtLeast(0, "a non-negative integer"));
  app.add_option("--avg-person-size", config.avgPersonByteSize, "bytes, default 200")
      ->check(integerAtLeast(1, "a positive integer"));
  app.add_option("--avg-auction-size", config.avgAuctionByteSize, "bytes, default 500")
      ->check(integerAtLeast(1, "a positive integer"));
  app.add_option("--avg-bid-size", config.avgBidByteSize, "bytes, default 100")
      ->check(integerAtLeast(1, "a positive integer"));
  app.add_option("--hot-auction-ratio", config.hotAuctionRatio, "default 2")
      ->check(integerAtLeast(1, "a positive integer"));
  app.add_option("--hot-sellers-ratio", config.hotSellersRatio, "default 4")
      ->check(integerAtLeast(1, "a positive integer"));
  app.add_option("--hot-bidders-ratio", config.hotBiddersRatio, "default 4")
      ->check(integerAtLeast(1, "a positive integer"));
  app.add_option("--in-flight-auctions", config.numInFlightAuctions, "default 100")
      ->check(integerAtLeast(1, "a positive integer"));
  app.add_option("--active-people", config.numActivePeople, "default 1000")
      ->check(integerAtLeast(1, "a positive integer"));

  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 takes them reversed
  try {
    app.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    return Status::cancelled(app.help());
  } catch (const CLI::ParseError& e) {
    return Status::invalidArgument(std::string(e.what()) + "\nusage: " + kUsage);
  }

  config.numEventGenerators = generators > 0 ? generators : options.parallelism;
  if (Status valid = config.validate(); !valid.isOk()) {
    return Status::invalidArgument("bad generator options: " + valid.message());
  }
  if (query == "all") {
    if (!options.output.empty()) {
      return Status::invalidArgument("--query all runs the benchmark; --output takes one query");
    }
    options.queries = allQueries();
  } else if (const Query* q = findQuery(query); q != nullptr) {
    options.queries = {q};
  } else {
    std::string known;
    for (const Query* q : allQueries())
      known += (known.empty() ? "" : " ") + std::string(q->name());
    return Status::invalidArgument("unknown query '" + query + "' (known: " + known + ", all)");
  }
  Result<Configuration> configuration = configurationOf(options);
  if (!configuration.isOk()) return configuration.status();
  return options;
}

Result<EngineRun> runOnEngine(const Query& query, const NexmarkOptions& options) {
  STROM_ASSIGN_OR_RETURN(Configuration configuration, configurationOf(options));
  STROM_ASSIGN_OR_RETURN(ScratchDir scratch, ScratchDir::create());
  QueryContext ctx = makeContext(options, configuration, scratch.path());

  auto env = StreamExecutionEnvironment::getExecutionEnvironment(configuration);
  env.setParallelism(options.parallelism);
  STROM_ASSIGN_OR_RETURN(std::shared_ptr<const NexmarkSource> source,
                         NexmarkSource::create(options.config));
  int sourceParallelism = std::min(options.parallelism, options.config.numEventGenerators);
  auto events = env.fromSource<NexmarkEvent>(source, nexmarkWatermarks(), "Nexmark Source");
  events.setParallelism(sourceParallelism);
  if (!options.dumpEvents.empty()) {
    events
        .map([](const NexmarkEvent& event) {
          std::string line;
          appendJsonLine(line, event.split, event);
          line.pop_back();  // the sink adds the line terminator
          return line;
        })
        .name("Events as JSON")
        .setParallelism(sourceParallelism)
        .writeAsText(options.dumpEvents)
        .setParallelism(1);
  }
  QueryOutput output = options.output.empty() ? QueryOutput() : QueryOutput(options.output);
  STROM_RETURN_IF_ERROR(query.build(ctx, events, output));

  double wallStart = wallSeconds();
  double cpuStart = processCpuSeconds();
  Result<JobExecutionResult> result = env.execute("Nexmark " + std::string(query.name()));
  EngineRun run;
  run.cpuSeconds = processCpuSeconds() - cpuStart;
  run.wallSeconds = wallSeconds() - wallStart;
  if (!result.isOk()) return result.status();
  run.rows = output.totals();
  return run;
}

Result<LoopRun> runLoop(const Query& query, const NexmarkOptions& options) {
  STROM_ASSIGN_OR_RETURN(Configuration configuration, configurationOf(options));
  STROM_ASSIGN_OR_RETURN(ScratchDir scratch, ScratchDir::create());
  QueryContext ctx = makeContext(options, configuration, scratch.path());
  double cpuStart = processCpuSeconds();
  STROM_ASSIGN_OR_RETURN(RowTally rows, query.runLoop(ctx));
  LoopRun run;
  run.cpuSeconds = processCpuSeconds() - cpuStart;
  run.rows = rows;
  return run;
}

int nexmarkMain(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  Result<NexmarkOptions> parsed = parseNexmarkOptions(args);
  if (!parsed.isOk()) {
    if (parsed.status().code() == StatusCode::kCancelled) {  // --help
      std::printf("%s", parsed.status().message().c_str());
      return 0;
    }
    std::fprintf(stderr, "strom-nexmark: %s\n", parsed.status().message().c_str());
    return 2;
  }
  const NexmarkOptions& options = *parsed;

  if (!options.output.empty()) {
    const Query& query = *options.queries.front();
    Result<EngineRun> run = runOnEngine(query, options);
    if (!run.isOk()) {
      std::fprintf(stderr, "strom-nexmark: %s failed: %s\n", std::string(query.name()).c_str(),
                   run.status().message().c_str());
      return 1;
    }
    std::fprintf(stderr, "%s: %lld rows to %s\n", std::string(query.name()).c_str(),
                 static_cast<long long>(run->rows.rows), options.output.c_str());
    return 0;
  }

  ResultTable table;
  int64_t totalEvents = 0;
  double totalCoreSeconds = 0;
  double totalWall = 0;
  double totalLoopSeconds = 0;
  bool mismatch = false;
  for (const Query* query : options.queries) {
    std::string name(query->name());
    Result<EngineRun> engine = runOnEngine(*query, options);
    if (!engine.isOk()) {
      std::fprintf(stderr, "strom-nexmark: %s failed: %s\n", name.c_str(),
                   engine.status().message().c_str());
      return 1;
    }
    Result<LoopRun> loop = runLoop(*query, options);
    if (!loop.isOk()) {
      std::fprintf(stderr, "strom-nexmark: the loop of %s failed: %s\n", name.c_str(),
                   loop.status().message().c_str());
      return 1;
    }
    const int64_t events = options.config.maxEvents;
    const double coreSeconds = engine->cpuSeconds;
    const double perCore = static_cast<double>(events) / coreSeconds;
    const double loopPerCore = static_cast<double>(events) / loop->cpuSeconds;
    bool checked = query->deterministic() && !query->updating();
    std::string verdict = fixed(perCore / loopPerCore, 2) + "x";
    if (checked && !(engine->rows == loop->rows)) {
      mismatch = true;
      std::fprintf(stderr,
                   "strom-nexmark: %s: the engine's result differs from the loop's: %lld rows "
                   "(checksum %llx) vs %lld rows (checksum %llx)\n",
                   name.c_str(), static_cast<long long>(engine->rows.rows),
                   static_cast<unsigned long long>(engine->rows.checksum),
                   static_cast<long long>(loop->rows.rows),
                   static_cast<unsigned long long>(loop->rows.checksum));
      verdict += " MISMATCH";
    }
    table.addRow({name, withThousands(events), fixed(coreSeconds / engine->wallSeconds, 2),
                  fixed(engine->wallSeconds, 3), fixed(coreSeconds, 3), perSecond(perCore),
                  perSecond(loopPerCore), verdict});
    std::fprintf(stderr, "%s: %lld result rows (loop: %lld)\n", name.c_str(),
                 static_cast<long long>(engine->rows.rows),
                 static_cast<long long>(loop->rows.rows));
    totalEvents += events;
    totalCoreSeconds += coreSeconds;
    totalWall += engine->wallSeconds;
    totalLoopSeconds += loop->cpuSeconds;
  }
  if (options.queries.size() > 1) {
    const double perCore = static_cast<double>(totalEvents) / totalCoreSeconds;
    const double loopPerCore = static_cast<double>(totalEvents) / totalLoopSeconds;
    table.addRow({"Total", withThousands(totalEvents), fixed(totalCoreSeconds / totalWall, 2),
                  fixed(totalWall, 3), fixed(totalCoreSeconds, 3), perSecond(perCore),
                  perSecond(loopPerCore), fixed(perCore / loopPerCore, 2) + "x"});
  }
  table.print();
  return mismatch ? 1 : 0;
}

}  // namespace strom::nexmark
