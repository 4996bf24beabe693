// JobLibrary: loading job libraries built with strom_add_job(), building their JobGraph, and
// the error for each kind of bad library.

#include "graph/job_library.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "graph/job_graph.h"
#include "jobs/pipeline_job.h"
#include "testutil/status_matchers.h"

namespace strom::graph {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

std::string messageOf(const Status& status) { return status.message(); }

TEST(JobLibraryTest, buildsTheSameGraphAsTheProgramBuiltInProcess) {
  ASSERT_OK_AND_ASSIGN(auto library, JobLibrary::open(STROM_TEST_PIPELINE_JOB));
  JobArgs args({"--parallelism", "3"});
  Configuration configuration;
  configuration.set("pipeline.max-parallelism", "64");
  ASSERT_OK_AND_ASSIGN(auto loaded, library->buildJobGraph(args, configuration, "pipeline"));

  StreamExecutionEnvironment env(configuration);
  ASSERT_OK(buildPipelineJob(env, args));
  ASSERT_OK_AND_ASSIGN(auto inProcess, buildJobGraph(env, "pipeline"));

  EXPECT_EQ(loaded->fingerprint(), inProcess->fingerprint());
  EXPECT_EQ(loaded->toJson(), inProcess->toJson());
  EXPECT_EQ(loaded->vertices().size(), 2u);
  EXPECT_EQ(loaded->vertices()[0].parallelism, 3);
  EXPECT_EQ(loaded->vertices()[0].maxParallelism, 64);
  EXPECT_EQ(library->stromVersion(), STROM_VERSION);
  EXPECT_TRUE(std::filesystem::path(library->path()).is_absolute());
}

TEST(JobLibraryTest, argumentsAndConfigurationReachBuild) {
  ASSERT_OK_AND_ASSIGN(auto library, JobLibrary::open(STROM_TEST_PIPELINE_JOB));
  ASSERT_OK_AND_ASSIGN(auto two, library->buildJobGraph(JobArgs(), {}, "pipeline"));
  ASSERT_OK_AND_ASSIGN(auto twoAgain, library->buildJobGraph(JobArgs(), {}, "pipeline"));
  ASSERT_OK_AND_ASSIGN(auto four,
                       library->buildJobGraph(JobArgs({"--parallelism", "4"}), {}, "pipeline"));
  Configuration smallMax;
  smallMax.set("pipeline.max-parallelism", "1");
  EXPECT_EQ(two->fingerprint(), twoAgain->fingerprint());
  EXPECT_NE(two->fingerprint(), four->fingerprint());
  auto tooParallel = library->buildJobGraph(JobArgs(), smallMax, "pipeline");
  ASSERT_STATUS(StatusCode::kInvalidArgument, tooParallel);
  EXPECT_THAT(messageOf(tooParallel.status()), HasSubstr("exceeds the max parallelism 1"));
}

TEST(JobLibraryTest, openingTwiceAndBuildingFromManyThreadsAgree) {
  ASSERT_OK_AND_ASSIGN(auto first, JobLibrary::open(STROM_TEST_PIPELINE_JOB));
  ASSERT_OK_AND_ASSIGN(auto expected, first->buildJobGraph(JobArgs(), {}, "pipeline"));
  constexpr int kThreads = 4;
  constexpr int kBuildsPerThread = 5;
  std::vector<std::string> fingerprints(kThreads * kBuildsPerThread);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto library = JobLibrary::open(STROM_TEST_PIPELINE_JOB);
      if (!library.isOk()) return;
      for (int i = 0; i < kBuildsPerThread; ++i) {
        auto job = (*library)->buildJobGraph(JobArgs(), {}, "pipeline");
        if (job.isOk()) fingerprints[t * kBuildsPerThread + i] = (*job)->fingerprint();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (const std::string& fingerprint : fingerprints) {
    EXPECT_EQ(fingerprint, expected->fingerprint());
  }
}

TEST(JobLibraryTest, aNondeterministicBuildGivesDifferentFingerprints) {
  ASSERT_OK_AND_ASSIGN(auto library, JobLibrary::open(STROM_TEST_NONDETERMINISTIC_JOB));
  ASSERT_OK_AND_ASSIGN(auto first, library->buildJobGraph(JobArgs(), {}, "job"));
  ASSERT_OK_AND_ASSIGN(auto second, library->buildJobGraph(JobArgs(), {}, "job"));
  EXPECT_NE(first->fingerprint(), second->fingerprint());
}

TEST(JobLibraryTest, aBuildThatThrowsBecomesAnError) {
  ASSERT_OK_AND_ASSIGN(auto library, JobLibrary::open(STROM_TEST_THROWING_JOB));
  auto job = library->buildJobGraph(JobArgs(), {}, "job");
  ASSERT_STATUS(StatusCode::kInvalidArgument, job);
  EXPECT_THAT(messageOf(job.status()), AllOf(HasSubstr(library->path()), HasSubstr("build failed"),
                                             HasSubstr("the test job throws on purpose")));
}

TEST(JobLibraryTest, aBuildReturningAnErrorBecomesThatError) {
  ASSERT_OK_AND_ASSIGN(auto library, JobLibrary::open(STROM_TEST_ERROR_JOB));
  auto job = library->buildJobGraph(JobArgs(), {}, "job");
  ASSERT_STATUS(StatusCode::kInvalidArgument, job);
  EXPECT_THAT(messageOf(job.status()),
              AllOf(HasSubstr(library->path()), HasSubstr("build failed"),
                    HasSubstr("missing --input (the test job fails on purpose)")));
  // A build error from the library's argument parsing, too.
  ASSERT_OK_AND_ASSIGN(auto pipeline, JobLibrary::open(STROM_TEST_PIPELINE_JOB));
  auto badArgs = pipeline->buildJobGraph(JobArgs({"--bogus"}), {}, "job");
  ASSERT_STATUS(StatusCode::kInvalidArgument, badArgs);
  EXPECT_THAT(messageOf(badArgs.status()), HasSubstr("unknown argument '--bogus'"));
}

TEST(JobLibraryTest, aMissingFileIsNotFound) {
  auto library = JobLibrary::open("/nonexistent/dir/job.so");
  ASSERT_STATUS(StatusCode::kNotFound, library);
  EXPECT_EQ(messageOf(library.status()), "job library /nonexistent/dir/job.so: no such file");
}

TEST(JobLibraryTest, aFileThatIsNotASharedObjectIsRejected) {
  std::filesystem::path path = std::filesystem::path(::testing::TempDir()) /
                               ("not_elf_job_" + std::to_string(::getpid()) + ".so");
  {
    std::ofstream out(path);
    for (int i = 0; i < 20; ++i) out << "this is not an ELF file\n";
  }
  auto library = JobLibrary::open(path.string());
  ASSERT_STATUS(StatusCode::kInvalidArgument, library);
  EXPECT_THAT(messageOf(library.status()),
              AllOf(HasSubstr("job library " + path.string()),
                    HasSubstr("not a loadable shared object: invalid ELF header")));
  std::filesystem::remove(path);

  auto directory = JobLibrary::open(::testing::TempDir());
  ASSERT_STATUS(StatusCode::kInvalidArgument, directory);
  EXPECT_THAT(messageOf(directory.status()), HasSubstr("not a regular file"));
}

TEST(JobLibraryTest, aSharedObjectWithoutEntryIsNotAJobLibrary) {
  auto library = JobLibrary::open(STROM_TEST_NO_ENTRY);
  ASSERT_STATUS(StatusCode::kInvalidArgument, library);
  EXPECT_THAT(messageOf(library.status()),
              AllOf(HasSubstr(STROM_TEST_NO_ENTRY),
                    HasSubstr("not a Strom job library (no STROM_JOB entry")));
}

TEST(JobLibraryTest, anotherAbiOrStromVersionIsRejected) {
  auto abi = JobLibrary::open(STROM_TEST_WRONG_ABI);
  ASSERT_STATUS(StatusCode::kInvalidArgument, abi);
  EXPECT_THAT(messageOf(abi.status()),
              AllOf(HasSubstr(STROM_TEST_WRONG_ABI), HasSubstr("built for job library ABI version"),
                    HasSubstr("rebuild the job")));
  auto version = JobLibrary::open(STROM_TEST_WRONG_VERSION);
  ASSERT_STATUS(StatusCode::kInvalidArgument, version);
  EXPECT_THAT(messageOf(version.status()),
              AllOf(HasSubstr(STROM_TEST_WRONG_VERSION), HasSubstr("built with Strom 0.0.1"),
                    HasSubstr("but this is Strom " STROM_VERSION)));
}

TEST(JobLibraryTest, undefinedSymbolsAreNamed) {
  auto library = JobLibrary::open(STROM_TEST_UNDEFINED_SYMBOL);
  ASSERT_STATUS(StatusCode::kInvalidArgument, library);
  EXPECT_THAT(messageOf(library.status()),
              AllOf(HasSubstr(STROM_TEST_UNDEFINED_SYMBOL), HasSubstr("undefined symbol"),
                    HasSubstr("strom_symbol_that_does_not_exist")));
}

}  // namespace
}  // namespace strom::graph
