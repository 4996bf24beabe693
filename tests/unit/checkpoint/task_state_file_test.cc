#include "checkpoint/task_state_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "testutil/status_matchers.h"

namespace strom::checkpoint {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class TaskStateFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "strom-task-state-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    jobDir_ = pattern;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(jobDir_, ec);
  }

  std::vector<TaskStateEntry> entries() const {
    std::vector<TaskStateEntry> result;
    result.push_back(TaskStateEntry{"uid-a", std::string(kKeyedStateKind), "", 0, 32, 63,
                                    std::string("keyed bytes\0with a zero", 23)});
    std::vector<std::string> elements = {"one", "", std::string(300, 'x')};
    result.push_back(TaskStateEntry{"uid-b", std::string(kOperatorStateKind), "offsets", 1, 0, -1,
                                    encodeOperatorStateElements(elements)});
    result.push_back(TaskStateEntry{"uid-b", std::string(kOperatorStateKind), "empty", 0, 0, -1,
                                    encodeOperatorStateElements({})});
    return result;
  }

  fs::path jobDir_;
};

TEST_F(TaskStateFileTest, roundTripsEveryEntry) {
  const TaskStateFileId id{7, 2, 1, 3};
  EXPECT_EQ(taskStateFilePath(id), "chk-7/v2-s1-a3.state");
  std::vector<TaskStateEntry> written = entries();
  ASSERT_OK_AND_ASSIGN(proto::SubtaskState state, writeTaskStateFile(jobDir_, id, written));
  EXPECT_EQ(state.subtask_index(), 1);
  ASSERT_EQ(state.handles_size(), 3);
  EXPECT_TRUE(fs::exists(jobDir_ / "chk-7" / "v2-s1-a3.state"));
  uint64_t offset = 0;
  for (int i = 0; i < state.handles_size(); ++i) {
    const proto::StateHandle& handle = state.handles(i);
    const TaskStateEntry& entry = written[static_cast<size_t>(i)];
    EXPECT_EQ(handle.path(), "chk-7/v2-s1-a3.state");
    EXPECT_EQ(handle.offset(), offset);
    EXPECT_EQ(handle.length(), entry.bytes.size());
    EXPECT_EQ(handle.kind(), entry.kind);
    EXPECT_EQ(handle.operator_uid(), entry.operatorUid);
    EXPECT_EQ(handle.name(), entry.name);
    EXPECT_EQ(handle.mode(), entry.mode);
    EXPECT_EQ(handle.key_group_start(), entry.keyGroupStart);
    EXPECT_EQ(handle.key_group_end(), entry.keyGroupEnd);
    EXPECT_EQ(handle.subtask_index(), 1);
    offset += handle.length();
    ASSERT_OK_AND_ASSIGN(std::string bytes, readStateHandle(jobDir_, handle));
    EXPECT_EQ(bytes, entry.bytes);
  }
  EXPECT_EQ(fs::file_size(jobDir_ / "chk-7" / "v2-s1-a3.state"), offset);

  ASSERT_OK_AND_ASSIGN(std::string operatorBytes, readStateHandle(jobDir_, state.handles(1)));
  std::vector<std::string> elements = {"kept"};
  ASSERT_OK(decodeOperatorStateElements(operatorBytes, "test", elements));
  EXPECT_THAT(elements, ElementsAre("kept", "one", "", std::string(300, 'x')));
  ASSERT_OK_AND_ASSIGN(std::string emptyBytes, readStateHandle(jobDir_, state.handles(2)));
  std::vector<std::string> none;
  ASSERT_OK(decodeOperatorStateElements(emptyBytes, "test", none));
  EXPECT_TRUE(none.empty());
}

TEST_F(TaskStateFileTest, writesNothingWithoutEntries) {
  ASSERT_OK_AND_ASSIGN(proto::SubtaskState state, writeTaskStateFile(jobDir_, {4, 0, 2, 0}, {}));
  EXPECT_EQ(state.subtask_index(), 2);
  EXPECT_EQ(state.handles_size(), 0);
  EXPECT_FALSE(fs::exists(jobDir_ / "chk-4"));
}

TEST_F(TaskStateFileTest, writeErrorNamesTheFile) {
  // A plain file where the checkpoint directory should be.
  std::ofstream(jobDir_ / "chk-5") << "in the way";
  auto result = writeTaskStateFile(jobDir_, {5, 0, 0, 0}, entries());
  ASSERT_STATUS(StatusCode::kIOError, result);
  EXPECT_THAT(result.status().message(), HasSubstr("chk-5"));
}

TEST_F(TaskStateFileTest, readNamesEachCorruption) {
  ASSERT_OK_AND_ASSIGN(proto::SubtaskState state,
                       writeTaskStateFile(jobDir_, {1, 0, 0, 0}, entries()));
  const fs::path file = jobDir_ / "chk-1" / "v0-s0-a0.state";
  const proto::StateHandle good = state.handles(1);

  for (const char* bad : {"/etc/passwd", "../x", "chk-1/../../x", "chk-1/./v0-s0-a0.state", "",
                          "chk-1//v0-s0-a0.state"}) {
    proto::StateHandle handle = good;
    handle.set_path(bad);
    auto result = readStateHandle(jobDir_, handle);
    SCOPED_TRACE(bad);
    ASSERT_STATUS(StatusCode::kCorruption, result);
    EXPECT_THAT(result.status().message(), HasSubstr("is not relative"));
  }

  proto::StateHandle missing = good;
  missing.set_path("chk-1/v9-s9-a9.state");
  auto result = readStateHandle(jobDir_, missing);
  ASSERT_STATUS(StatusCode::kNotFound, result);
  EXPECT_THAT(result.status().message(), HasSubstr("v9-s9-a9.state' is missing"));

  proto::StateHandle tooLong = good;
  tooLong.set_length(fs::file_size(file));
  result = readStateHandle(jobDir_, tooLong);
  ASSERT_STATUS(StatusCode::kCorruption, result);
  EXPECT_THAT(result.status().message(), HasSubstr(file.string() + "' is truncated"));

  proto::StateHandle wrongSum = good;
  wrongSum.set_checksum(good.checksum() ^ 1);
  result = readStateHandle(jobDir_, wrongSum);
  ASSERT_STATUS(StatusCode::kCorruption, result);
  EXPECT_THAT(result.status().message(), HasSubstr(file.string() + "': checksum mismatch"));

  // A flipped byte inside the entry.
  {
    std::fstream io(file, std::ios::in | std::ios::out | std::ios::binary);
    io.seekp(static_cast<std::streamoff>(good.offset() + 2));
    io.put('!');
  }
  result = readStateHandle(jobDir_, good);
  ASSERT_STATUS(StatusCode::kCorruption, result);
  EXPECT_THAT(result.status().message(), HasSubstr("checksum mismatch"));

  // Cut the file inside the last entry.
  fs::resize_file(file, state.handles(2).offset());
  result = readStateHandle(jobDir_, state.handles(2));
  ASSERT_STATUS(StatusCode::kCorruption, result);
  EXPECT_THAT(result.status().message(), HasSubstr("truncated"));
}

TEST_F(TaskStateFileTest, decodeOperatorStateNamesEachCorruption) {
  std::string bytes = encodeOperatorStateElements(std::vector<std::string>{"abc", "defg"});
  std::vector<std::string> out;
  Status status = decodeOperatorStateElements(bytes.substr(0, bytes.size() - 1), "file f", out);
  EXPECT_EQ(status.code(), StatusCode::kCorruption);
  EXPECT_THAT(status.message(), HasSubstr("file f: operator state element 1 of 2"));

  out.clear();
  status = decodeOperatorStateElements(bytes + "x", "file f", out);
  EXPECT_EQ(status.code(), StatusCode::kCorruption);
  EXPECT_THAT(status.message(), HasSubstr("1 bytes after"));

  out.clear();
  status = decodeOperatorStateElements("\x7f", "file f", out);  // 127 elements in 0 bytes
  EXPECT_EQ(status.code(), StatusCode::kCorruption);
  EXPECT_THAT(status.message(), HasSubstr("bad element count"));
}

}  // namespace
}  // namespace strom::checkpoint
