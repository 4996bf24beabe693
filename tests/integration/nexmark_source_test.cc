// The Nexmark source on the embedded MiniCluster reproduces the golden files of
// ../shared/nexmark field for field, split by split, at source parallelism 1 and several
// (a subtask reading several splits), and its per-split watermark trails dateTime by 4 s.

#include "connectors/nexmark/nexmark_source.h"

#include <gtest/gtest.h>
#include <strom/strom.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "connectors/nexmark/nexmark_json.h"
#include "testutil/gzip_lines.h"
#include "testutil/status_matchers.h"

namespace strom::nexmark {
namespace {

NexmarkConfig goldenConfig(int64_t events, int32_t splits) {
  NexmarkConfig config;  // ../shared/nexmark/README.md: seed 0, the rest as here
  config.seed = 0;
  config.maxEvents = events;
  config.baseTime = 1'600'000'000'000;
  config.firstEventRate = 10'000;
  config.numEventGenerators = splits;
  return config;
}

/// The golden lines of each split, in the order the split emits them.
std::map<int, std::vector<std::string>> bySplit(const std::vector<std::string>& lines) {
  std::map<int, std::vector<std::string>> result;
  for (const std::string& line : lines) {
    // Every line starts with {"split":N,
    size_t colon = line.find(':');
    result[std::stoi(line.substr(colon + 1))].push_back(line);
  }
  return result;
}

void expectGolden(const std::string& fileName, int64_t events, int32_t splits, int parallelism) {
  const std::filesystem::path dir = STROM_NEXMARK_DATA_DIR;
  if (!std::filesystem::is_directory(dir)) {
    GTEST_SKIP() << "Nexmark golden data directory " << dir << " not found";
  }
  std::map<int, std::vector<std::string>> expected =
      bySplit(testutil::readGzipLines((dir / fileName).string()));
  ASSERT_EQ(expected.size(), static_cast<size_t>(splits));

  Configuration config;
  config.set(kAutoWatermarkIntervalKey, "0 ms");
  auto env = StreamExecutionEnvironment::getExecutionEnvironment(config);
  env.setParallelism(parallelism);
  ASSERT_OK_AND_ASSIGN(auto source, NexmarkSource::create(goldenConfig(events, splits)));
  auto lines = std::make_shared<CollectedRecords<std::string>>();
  env.fromSource<NexmarkEvent>(source, nexmarkWatermarks(), "Nexmark")
      .map([](const NexmarkEvent& event) {
        std::string line;
        appendJsonLine(line, event.split, event);
        return line;
      })
      .sinkTo(std::make_shared<CollectSink<std::string>>(lines));
  ASSERT_OK(env.execute("nexmark golden"));
  std::map<int, std::vector<std::string>> actual = bySplit(lines->records());
  ASSERT_EQ(actual.size(), expected.size());
  for (const auto& [split, expectedLines] : expected) {
    const std::vector<std::string>& got = actual[split];
    ASSERT_EQ(got.size(), expectedLines.size()) << "split " << split;
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_EQ(got[i], expectedLines[i]) << "split " << split << ", line " << i + 1;
    }
  }
}

TEST(NexmarkSourceTest, reproducesTheGoldenFileWithOneSplit) {
  expectGolden("events-100k-p1.jsonl.gz", 100'000, 1, 1);
}

TEST(NexmarkSourceTest, reproducesTheGoldenFileWithFourSplitsOnOneSubtask) {
  expectGolden("events-20k-p4.jsonl.gz", 20'000, 4, 1);
}

TEST(NexmarkSourceTest, reproducesTheGoldenFileWithFourSplitsOnThreeSubtasks) {
  expectGolden("events-20k-p4.jsonl.gz", 20'000, 4, 3);
}

/// Records per record whether it was behind the operator's watermark, and the lag of the
/// watermark behind the largest timestamp seen.
class WatermarkLag final : public ProcessFunction<NexmarkEvent, int64_t> {
 public:
  void processElement(const NexmarkEvent& event, Context& ctx, Collector<int64_t>& out) override {
    int64_t watermark = ctx.timerService().currentWatermark();
    maxTimestamp_ = std::max(maxTimestamp_, event.timestamp);
    if (event.timestamp <= watermark) out.collect(-1);  // late
    if (watermark != INT64_MIN) out.collect(maxTimestamp_ - watermark);
  }

 private:
  int64_t maxTimestamp_ = INT64_MIN;
};

TEST(NexmarkSourceTest, theWatermarkTrailsDateTimeByFourSecondsAndNothingIsLate) {
  Configuration config;
  config.set(kAutoWatermarkIntervalKey, "0 ms");
  auto env = StreamExecutionEnvironment::getExecutionEnvironment(config);
  NexmarkConfig nexmark = goldenConfig(50'000, 2);
  ASSERT_OK_AND_ASSIGN(auto source, NexmarkSource::create(nexmark));
  auto lags = std::make_shared<CollectedRecords<int64_t>>();
  env.fromSource<NexmarkEvent>(source, nexmarkWatermarks(), "Nexmark")
      .process(WatermarkLag())
      .sinkTo(std::make_shared<CollectSink<int64_t>>(lags));
  ASSERT_OK(env.execute("nexmark watermark"));
  std::vector<int64_t> values = lags->records();
  ASSERT_FALSE(values.empty());
  for (int64_t lag : values) {
    ASSERT_NE(lag, -1) << "a record behind the watermark";
    ASSERT_GE(lag, NexmarkWatermarkGenerator::kDelayMillis);
  }
}

}  // namespace
}  // namespace strom::nexmark
