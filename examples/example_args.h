#pragma once

// Command-line handling shared by the example jobs: CLI11 over the job's arguments, --help,
// and -D key=value configuration overrides.

#include <strom/strom.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

namespace examples {

/// Parse `args` with `app`. --help prints the help and returns a cancelled status (the job
/// then exits without running); a bad argument returns invalidArgument with CLI11's message
/// and "usage: <program> <usage>".
inline strom::Status parseArgs(CLI::App& app, const strom::JobArgs& args,
                               const std::string& usage) {
  std::vector<std::string> argv = args.args();
  std::reverse(argv.begin(), argv.end());  // CLI11 takes them in reverse order
  try {
    app.parse(argv);
  } catch (const CLI::CallForHelp&) {
    std::printf("%s", app.help().c_str());
    return strom::Status::cancelled("help printed");
  } catch (const CLI::ParseError& e) {
    return strom::Status::invalidArgument(std::string(e.what()) + "\nusage: " + args.programName() +
                                          " " + usage);
  }
  return strom::Status::ok();
}

/// Apply -D key=value overrides to the job's configuration.
inline strom::Status applyOptions(strom::StreamExecutionEnvironment& env,
                                  const std::vector<std::string>& options) {
  for (const std::string& option : options) {
    STROM_RETURN_IF_ERROR(env.getConfiguration().setFromString(option));
  }
  return strom::Status::ok();
}

}  // namespace examples
