// Streaming word count, as Flink's WordCount example: read lines, split them into words
// (maximal runs of ASCII letters and digits, lower-cased), count per word with keyed state,
// and write "word,count" for every update.
//
//   word_count --input FILE --output PATH [-p N] [--checkpoint-interval MS] [-D key=value ...]
//
// With --checkpoint-interval, the job checkpoints every MS milliseconds: the file source
// resumes from its position after a failure and the output is written exactly once, as a
// directory PATH of committed part files (part-0-0, part-0-1, ...: read them in that order);
// checkpoints go to state.checkpoints.dir, or PATH.checkpoints when it is not set.

#include <strom/strom.h>

#include <CLI/CLI.hpp>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "example_args.h"

namespace {

/// Counts the occurrences of each word in keyed state.
class CountWords final
    : public strom::RichMapFunction<std::string, std::pair<std::string, int64_t>> {
 public:
  void open() override {
    count_ = &getRuntimeContext().getState(strom::ValueStateDescriptor<int64_t>("count"));
  }
  std::pair<std::string, int64_t> map(const std::string& word) override {
    const int64_t* current = count_->valuePtr();
    int64_t next = (current ? *current : 0) + 1;
    count_->update(next);
    return {word, next};
  }

 private:
  strom::ValueState<int64_t>* count_ = nullptr;  // owned by the keyed state backend
};

strom::Status build(strom::StreamExecutionEnvironment& env, const strom::JobArgs& args) {
  CLI::App app{"Streaming word count: writes \"word,count\" for every occurrence of a word.",
               args.programName()};
  std::string input;
  std::string output;
  int parallelism = 1;
  int64_t checkpointInterval = 0;
  std::vector<std::string> options;
  app.add_option("--input", input, "text file to read")->required();
  app.add_option("--output", output,
                 "file to write the counts to (with checkpoints: a directory of part files)")
      ->required();
  app.add_option("--checkpoint-interval", checkpointInterval,
                 "checkpoint every MS milliseconds (sets execution.checkpointing.interval): the "
                 "output becomes exactly-once, a directory of committed part files "
                 "part-<subtask>-<n>; checkpoints go to state.checkpoints.dir, or to "
                 "<output>.checkpoints when it is not set")
      ->check(CLI::PositiveNumber);
  // Without -p: parallelism.default (`strom run -p N` sets it), else 1.
  CLI::Option* parallelismOption =
      app.add_option("-p,--parallelism", parallelism, "parallelism of the splitting and counting");
  app.add_option("-D", options, "configuration override key=value (repeatable)")
      ->allow_extra_args(false);
  STROM_RETURN_IF_ERROR(examples::parseArgs(
      app, args, "--input FILE --output PATH [-p N] [--checkpoint-interval MS] [-D key=value]..."));
  STROM_RETURN_IF_ERROR(examples::applyOptions(env, options));
  if (parallelismOption->count() > 0) env.setParallelism(parallelism);
  strom::Configuration& config = env.getConfiguration();
  if (checkpointInterval > 0) {
    config.set("execution.checkpointing.interval", std::to_string(checkpointInterval) + " ms");
    if (!config.contains("state.checkpoints.dir")) {
      std::error_code error;
      std::filesystem::path absolute = std::filesystem::absolute(output, error);
      if (error) {
        return strom::Status::invalidArgument("--output '" + output + "': " + error.message());
      }
      config.set("state.checkpoints.dir", absolute.string() + ".checkpoints");
    }
  }

  auto formatted =
      env.readTextFile(input)
          .setParallelism(1)
          .flatMap([](const std::string& line, strom::Collector<std::string>& out) {
            std::string word;
            for (char c : line) {
              if (std::isalnum(static_cast<unsigned char>(c)) &&
                  static_cast<unsigned char>(c) < 0x80) {
                word.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
              } else if (!word.empty()) {
                out.collect(std::move(word));
                word.clear();
              }
            }
            if (!word.empty()) out.collect(std::move(word));
          })
          .name("Split")
          .keyBy([](const std::string& word) { return word; })
          .map(CountWords())
          .name("Count")
          .map([](const std::pair<std::string, int64_t>& count) {
            return count.first + "," + std::to_string(count.second);
          })
          .name("Format");
  if (checkpointInterval > 0) {
    formatted.sinkTo(std::make_shared<strom::FileSink<std::string>>(output), "Counts Files")
        .setParallelism(1);
  } else {
    formatted.writeAsText(output).name("Counts File").setParallelism(1);
  }
  return strom::Status::ok();
}

}  // namespace

STROM_JOB(build)
