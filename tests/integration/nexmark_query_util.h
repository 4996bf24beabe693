#pragma once

// Shared by the Nexmark query tests: the events of a configuration kept in memory (for the
// test's own oracle), a query run in result mode on the MiniCluster, and CSV helpers written
// independently of the harness's formatting.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "bench/nexmark/harness.h"
#include "bench/nexmark/query.h"
#include "connectors/nexmark/nexmark_config.h"
#include "connectors/nexmark/nexmark_events.h"
#include "connectors/nexmark/nexmark_generator.h"

namespace strom::nexmark::testing {

/// A small configuration for query tests: `events` events over `generators` splits at `rate`
/// events per second of event time (so 10 s windows hold rate * 10 events), from base time
/// 1,600,000,000,000 (2020-09-13T12:26:40Z), seed 7.
inline NexmarkConfig testConfig(int64_t events, int32_t generators, int64_t rate = 200) {
  NexmarkConfig config;
  config.seed = 7;
  config.maxEvents = events;
  config.firstEventRate = rate;
  config.baseTime = 1'600'000'000'000;
  config.numEventGenerators = generators;
  return config;
}

/// Every event of a configuration, with its strings owned here; split by split, each in the
/// order its generator emits them.
class EventLog {
 public:
  explicit EventLog(const NexmarkConfig& config) {
    auto splits = config.split(config.numEventGenerators);
    EXPECT_TRUE(splits.isOk()) << splits.status().message();
    if (!splits.isOk()) return;
    for (const NexmarkConfig& split : *splits) {
      auto generator = NexmarkGenerator::create(split);
      EXPECT_TRUE(generator.isOk()) << generator.status().message();
      if (!generator.isOk()) return;
      while (generator->hasNext()) {
        const NexmarkEvent& generated = generator->next();
        NexmarkEvent event;  // only the fields of its kind, strings owned here
        event.type = generated.type;
        event.timestamp = generated.timestamp;
        event.watermark = generated.watermark;
        event.split = split.splitIndex;
        switch (generated.type) {
          case EventType::kPerson:
            event.person = generated.person;
            for (std::string_view* s :
                 {&event.person.name, &event.person.emailAddress, &event.person.creditCard,
                  &event.person.city, &event.person.state, &event.person.extra}) {
              own(*s);
            }
            break;
          case EventType::kAuction:
            event.auction = generated.auction;
            for (std::string_view* s :
                 {&event.auction.itemName, &event.auction.description, &event.auction.extra}) {
              own(*s);
            }
            break;
          case EventType::kBid:
            event.bid = generated.bid;
            for (std::string_view* s : {&event.bid.channel, &event.bid.url, &event.bid.extra}) {
              own(*s);
            }
            break;
        }
        events_.push_back(event);
      }
    }
  }

  const std::vector<NexmarkEvent>& events() const { return events_; }

  std::vector<Person> persons() const {
    std::vector<Person> out;
    for (const NexmarkEvent& e : events_) {
      if (e.type == EventType::kPerson) out.push_back(e.person);
    }
    return out;
  }
  std::vector<Auction> auctions() const {
    std::vector<Auction> out;
    for (const NexmarkEvent& e : events_) {
      if (e.type == EventType::kAuction) out.push_back(e.auction);
    }
    return out;
  }
  std::vector<Bid> bids() const {
    std::vector<Bid> out;
    for (const NexmarkEvent& e : events_) {
      if (e.type == EventType::kBid) out.push_back(e.bid);
    }
    return out;
  }

 private:
  void own(std::string_view& view) {
    if (view.empty()) return;
    storage_.emplace_back(view);
    view = storage_.back();
  }

  std::deque<std::string> storage_;
  std::vector<NexmarkEvent> events_;
};

/// Run `queryName` in result mode over `config` at `parallelism` (the source at
/// min(parallelism, generators)) with extra -D options, and return the lines of its output,
/// sorted (row order is free). At parallelism > 1 the MiniCluster has one TaskManager per
/// subtask unless the options say otherwise, so the query's exchanges cross loopback TCP. A
/// failed run fails the test and returns nothing.
inline std::vector<std::string> runQuery(const std::string& queryName, const NexmarkConfig& config,
                                         int parallelism,
                                         std::vector<std::string> dynamicOptions = {}) {
  const Query* query = findQuery(queryName);
  EXPECT_NE(query, nullptr) << queryName << " is not registered";
  if (query == nullptr) return {};
  NexmarkOptions options;
  options.queries = {query};
  options.config = config;
  options.parallelism = parallelism;
  options.dynamicOptions = std::move(dynamicOptions);
  const bool taskManagersSet =
      std::any_of(options.dynamicOptions.begin(), options.dynamicOptions.end(),
                  [](const std::string& o) { return o.rfind("taskmanager.count=", 0) == 0; });
  if (parallelism > 1 && !taskManagersSet) {
    options.dynamicOptions.push_back("taskmanager.count=" + std::to_string(parallelism));
  }
  const std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) /
                                    ("nexmark-" + queryName + "-p" + std::to_string(parallelism));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  options.output = (dir / "result.csv").string();
  auto run = runOnEngine(*query, options);
  EXPECT_TRUE(run.isOk()) << run.status().message();
  if (!run.isOk()) return {};
  std::vector<std::string> lines;
  std::ifstream in(options.output);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::sort(lines.begin(), lines.end());
  return lines;
}

/// `text` as a CSV field (RFC 4180 quoting when it holds a comma, quote, CR or LF).
inline std::string csvField(std::string_view text) {
  bool quote = false;
  for (char c : text) quote = quote || c == ',' || c == '"' || c == '\r' || c == '\n';
  if (!quote) return std::string(text);
  std::string out = "\"";
  for (char c : text) {
    if (c == '"')
      out += "\"\"";
    else
      out += c;
  }
  return out + "\"";
}

/// `thousandths` / 1000 with exactly three fraction digits ("12.340").
inline std::string decimal3(int64_t thousandths) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%s%lld.%03lld", thousandths < 0 ? "-" : "",
                static_cast<long long>(std::llabs(thousandths) / 1000),
                static_cast<long long>(std::llabs(thousandths) % 1000));
  return buffer;
}

/// Sort `lines` (the oracle's rows, to compare with runQuery's).
inline std::vector<std::string> sorted(std::vector<std::string> lines) {
  std::sort(lines.begin(), lines.end());
  return lines;
}

}  // namespace strom::nexmark::testing
