// State assignment on restore (mechanism 2 of issue 8): keyed handles by key-group overlap,
// operator state by mode (split with split_select at another parallelism, union, broadcast),
// channel state at the same parallelism, and the errors.

#include "checkpoint/state_assignment.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <strom/key.h>
#include <strom/operator.h>

#include <string>
#include <vector>

#include "testutil/status_matchers.h"

namespace strom::checkpoint {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

proto::StateHandle keyedHandle(const std::string& uid, int subtask, KeyGroupRange range) {
  proto::StateHandle h;
  h.set_path("chk-7/v1-s" + std::to_string(subtask) + "-a0.state");
  h.set_offset(static_cast<uint64_t>(subtask) * 100);
  h.set_length(10);
  h.set_kind("keyed");
  h.set_key_group_start(range.startKeyGroup);
  h.set_key_group_end(range.endKeyGroup);
  h.set_operator_uid(uid);
  h.set_subtask_index(subtask);
  return h;
}

proto::StateHandle operatorHandle(const std::string& uid, int subtask, const std::string& name,
                                  OperatorStateMode mode) {
  proto::StateHandle h;
  h.set_path("chk-7/v0-s" + std::to_string(subtask) + "-a0.state");
  h.set_offset(static_cast<uint64_t>(subtask) * 100 + 50);
  h.set_length(5);
  h.set_kind("operator");
  h.set_operator_uid(uid);
  h.set_name(name);
  h.set_mode(static_cast<int>(mode));
  h.set_subtask_index(subtask);
  return h;
}

// A checkpoint of one vertex (id `vertexId`) at `parallelism` whose subtasks hold what
// `handlesOf(s)` returns.
template <class Fn>
proto::OperatorState vertexState(int vertexId, int parallelism, int maxParallelism, Fn handlesOf) {
  proto::OperatorState op;
  op.set_vertex_id(vertexId);
  op.set_parallelism(parallelism);
  op.set_max_parallelism(maxParallelism);
  for (int s = 0; s < parallelism; ++s) {
    proto::SubtaskState* subtask = op.add_subtasks();
    subtask->set_subtask_index(s);
    for (const proto::StateHandle& h : handlesOf(s)) *subtask->add_handles() = h;
  }
  return op;
}

RestorePoint keyedSource(int parallelism, int maxParallelism = 128) {
  RestorePoint source;
  source.rootDir = "/ckpt/job";
  source.metadata.set_checkpoint_id(7);
  source.metadata.set_job_id("job");
  *source.metadata.add_operators() = vertexState(1, parallelism, maxParallelism, [&](int s) {
    return std::vector<proto::StateHandle>{
        keyedHandle("counter", s, KeyGroupRange::forOperator(maxParallelism, parallelism, s))};
  });
  return source;
}

// source (vertex 0, parallelism 1) → edge 0 → counter, sink (vertex 1).
std::vector<RestoreVertex> keyedJob(int parallelism, int maxParallelism = 128) {
  return {RestoreVertex{0, 1, 128, {"source"}, {}, {0}},
          RestoreVertex{1, parallelism, maxParallelism, {"counter", "sink"}, {0}, {}}};
}

// The writing subtasks of the handles a restore holds, in order.
std::vector<int> writers(const proto::TaskRestore& restore) {
  std::vector<int> out;
  for (const proto::StateHandle& h : restore.handles()) out.push_back(h.subtask_index());
  return out;
}

TEST(StateAssignmentTest, sameParallelismGivesEachSubtaskItsOwnState) {
  RestorePoint source = keyedSource(2);
  std::vector<RestoreVertex> job = keyedJob(2);
  ASSERT_OK_AND_ASSIGN(auto restores, assignState(source, job, false));
  ASSERT_EQ(restores.size(), 2u);
  ASSERT_EQ(restores[0].size(), 1u);
  EXPECT_EQ(restores[0][0].handles_size(), 0);
  EXPECT_EQ(restores[0][0].checkpoint_id(), 7);
  EXPECT_EQ(restores[0][0].root_dir(), "/ckpt/job");
  ASSERT_EQ(restores[1].size(), 2u);
  EXPECT_THAT(writers(restores[1][0]), ElementsAre(0));
  EXPECT_THAT(writers(restores[1][1]), ElementsAre(1));
  EXPECT_EQ(restores[1][1].handles(0).path(), "chk-7/v1-s1-a0.state");
  EXPECT_EQ(restores[1][1].handles(0).offset(), 100u);
  EXPECT_EQ(restores[1][1].handles(0).operator_uid(), "counter");
}

TEST(StateAssignmentTest, keyedStateFollowsKeyGroupsAcrossRescaling) {
  // 2 -> 3: subtask 1 of 3 (key groups 43..85) overlaps both old ranges (0..63, 64..127).
  ASSERT_OK_AND_ASSIGN(auto up, assignState(keyedSource(2), keyedJob(3), false));
  EXPECT_THAT(writers(up[1][0]), ElementsAre(0));
  EXPECT_THAT(writers(up[1][1]), ElementsAre(0, 1));
  EXPECT_THAT(writers(up[1][2]), ElementsAre(1));
  // 3 -> 1: the one subtask gets everything.
  ASSERT_OK_AND_ASSIGN(auto down, assignState(keyedSource(3), keyedJob(1), false));
  EXPECT_THAT(writers(down[1][0]), ElementsAre(0, 1, 2));
  // Every key group of the new job is covered by the handles its owner got.
  for (int p : {1, 2, 3, 5, 128}) {
    ASSERT_OK_AND_ASSIGN(auto restores, assignState(keyedSource(3), keyedJob(p), false));
    for (int s = 0; s < p; ++s) {
      KeyGroupRange range = KeyGroupRange::forOperator(128, p, s);
      for (int kg = range.startKeyGroup; kg <= range.endKeyGroup; ++kg) {
        bool covered = false;
        for (const auto& h : restores[1][static_cast<size_t>(s)].handles()) {
          covered |= h.key_group_start() <= kg && kg <= h.key_group_end();
        }
        EXPECT_TRUE(covered) << "p=" << p << " s=" << s << " kg=" << kg;
      }
    }
  }
}

RestorePoint operatorSource(int parallelism, OperatorStateMode mode) {
  RestorePoint source;
  source.rootDir = "/ckpt/job";
  source.metadata.set_checkpoint_id(7);
  *source.metadata.add_operators() = vertexState(0, parallelism, 128, [&](int s) {
    return std::vector<proto::StateHandle>{operatorHandle("src", s, "offsets", mode)};
  });
  return source;
}

std::vector<RestoreVertex> operatorJob(int parallelism) {
  return {RestoreVertex{0, parallelism, 128, {"src"}, {}, {}}};
}

TEST(StateAssignmentTest, splitStateAtSameParallelismStaysWithItsSubtask) {
  ASSERT_OK_AND_ASSIGN(auto restores, assignState(operatorSource(3, OperatorStateMode::kSplit),
                                                  operatorJob(3), false));
  for (int s = 0; s < 3; ++s) {
    EXPECT_THAT(writers(restores[0][static_cast<size_t>(s)]), ElementsAre(s));
    EXPECT_TRUE(restores[0][static_cast<size_t>(s)].split_select().empty());
  }
}

TEST(StateAssignmentTest, splitStateAtAnotherParallelismIsDealtOutRoundRobin) {
  ASSERT_OK_AND_ASSIGN(auto restores, assignState(operatorSource(2, OperatorStateMode::kSplit),
                                                  operatorJob(3), false));
  for (int s = 0; s < 3; ++s) {
    const proto::TaskRestore& restore = restores[0][static_cast<size_t>(s)];
    EXPECT_THAT(writers(restore), ElementsAre(0, 1));
    ASSERT_EQ(restore.split_select().count("src/offsets"), 1u);
    EXPECT_EQ(restore.split_select().at("src/offsets").modulus(), 3);
    EXPECT_EQ(restore.split_select().at("src/offsets").remainder(), s);
  }
}

TEST(StateAssignmentTest, unionStateGoesToEverySubtask) {
  ASSERT_OK_AND_ASSIGN(auto restores, assignState(operatorSource(3, OperatorStateMode::kUnion),
                                                  operatorJob(2), false));
  EXPECT_THAT(writers(restores[0][0]), ElementsAre(0, 1, 2));
  EXPECT_THAT(writers(restores[0][1]), ElementsAre(0, 1, 2));
  EXPECT_TRUE(restores[0][1].split_select().empty());
}

TEST(StateAssignmentTest, broadcastStateGivesEverySubtaskTheFirstCopy) {
  ASSERT_OK_AND_ASSIGN(auto restores, assignState(operatorSource(3, OperatorStateMode::kBroadcast),
                                                  operatorJob(4), false));
  for (const proto::TaskRestore& restore : restores[0]) {
    EXPECT_THAT(writers(restore), ElementsAre(0));
  }
}

TEST(StateAssignmentTest, stateFollowsItsUidIntoAnotherChain) {
  RestorePoint source = keyedSource(2);
  std::vector<RestoreVertex> job = {RestoreVertex{0, 1, 128, {"source", "map"}, {}, {}},
                                    RestoreVertex{1, 1, 128, {"sink"}, {}, {}},
                                    RestoreVertex{2, 2, 128, {"counter"}, {}, {}}};
  ASSERT_OK_AND_ASSIGN(auto restores, assignState(source, job, false));
  EXPECT_EQ(restores[1][0].handles_size(), 0);
  EXPECT_THAT(writers(restores[2][1]), ElementsAre(1));
}

TEST(StateAssignmentTest, unclaimedStateIsAnErrorUnlessAllowed) {
  RestorePoint source = keyedSource(2);
  std::vector<RestoreVertex> job = {RestoreVertex{0, 2, 128, {"source", "other"}, {}, {}}};
  auto result = assignState(source, job, false);
  ASSERT_FALSE(result.isOk());
  EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(result.status().message(), HasSubstr("'counter'"));
  EXPECT_THAT(result.status().message(), HasSubstr("execution.savepoint.ignore-unclaimed-state"));
  ASSERT_OK_AND_ASSIGN(auto restores, assignState(source, job, true));
  EXPECT_EQ(restores[0][0].handles_size(), 0);
  EXPECT_EQ(restores[0][1].handles_size(), 0);
}

TEST(StateAssignmentTest, keyedStateAtAnotherMaxParallelismIsAnError) {
  auto result = assignState(keyedSource(2, 128), keyedJob(2, 256), false);
  ASSERT_FALSE(result.isOk());
  EXPECT_THAT(result.status().message(), HasSubstr("max parallelism 128"));
  EXPECT_THAT(result.status().message(), HasSubstr("256"));
  EXPECT_THAT(result.status().message(), HasSubstr("checkpoint 7"));
}

proto::StateHandle channelHandle(const std::string& uid, int subtask, const std::string& name) {
  proto::StateHandle h;
  h.set_path("chk-7/v" + uid + "-s" + std::to_string(subtask) + "-a0.state");
  h.set_kind("channel");
  h.set_name(name);
  h.set_operator_uid(uid);
  return h;
}

// An unaligned checkpoint of source (vertex 0, parallelism 2) → edge 0 → counter (vertex 1,
// parallelism 2): each counter subtask has input state from both sources, each source output
// state for both counters.
RestorePoint unalignedSource() {
  RestorePoint source;
  source.rootDir = "/ckpt/job";
  source.metadata.set_checkpoint_id(7);
  source.metadata.set_unaligned(true);
  *source.metadata.add_operators() = vertexState(0, 2, 128, [](int s) {
    return std::vector<proto::StateHandle>{channelHandle("source", s, "out-0-0"),
                                           channelHandle("source", s, "out-0-1")};
  });
  source.metadata.mutable_operators(0)->set_uid("source");
  *source.metadata.add_operators() = vertexState(1, 2, 128, [](int s) {
    return std::vector<proto::StateHandle>{channelHandle("counter", s, "in-0-0"),
                                           channelHandle("counter", s, "in-0-1")};
  });
  source.metadata.mutable_operators(1)->set_uid("counter");
  return source;
}

std::vector<RestoreVertex> unalignedJob(int sources, int counters) {
  return {RestoreVertex{0, sources, 128, {"source"}, {}, {0}},
          RestoreVertex{1, counters, 128, {"counter"}, {0}, {}}};
}

/// "<uid> s<writer> <name> -> <new name>" for each handle of `restore`.
std::vector<std::string> channelHandles(const proto::TaskRestore& restore) {
  std::vector<std::string> out;
  for (const proto::StateHandle& h : restore.handles()) {
    out.push_back(h.path() + " " + h.name() + " as " + h.operator_uid());
  }
  return out;
}

TEST(StateAssignmentTest, channelStateAtTheSameParallelismStaysWithItsSubtask) {
  std::vector<RestoreEdge> edges = {RestoreEdge{0, 0, 1, false, false}};
  ASSERT_OK_AND_ASSIGN(auto restores,
                       assignState(unalignedSource(), unalignedJob(2, 2), false, edges));
  EXPECT_THAT(channelHandles(restores[1][1]),
              ElementsAre("chk-7/vcounter-s1-a0.state in-0-0 as counter",
                          "chk-7/vcounter-s1-a0.state in-0-1 as counter"));
  EXPECT_THAT(channelHandles(restores[0][0]),
              ElementsAre("chk-7/vsource-s0-a0.state out-0-0 as source",
                          "chk-7/vsource-s0-a0.state out-0-1 as source"));
}

TEST(StateAssignmentTest, channelStateOfARescaledEdgeIsReplayedByTheProducers) {
  std::vector<RestoreEdge> edges = {RestoreEdge{0, 0, 1, false, false}};
  // The counters go from 2 to 3: every old channel (producer p, consumer c) goes to new source
  // subtask p, its consumer's input part first, then its producer's output part.
  ASSERT_OK_AND_ASSIGN(auto restores,
                       assignState(unalignedSource(), unalignedJob(2, 3), false, edges));
  EXPECT_THAT(channelHandles(restores[0][1]),
              ElementsAre("chk-7/vcounter-s0-a0.state replay-0 as source",
                          "chk-7/vsource-s1-a0.state replay-0 as source",
                          "chk-7/vcounter-s1-a0.state replay-0 as source",
                          "chk-7/vsource-s1-a0.state replay-0 as source"));
  EXPECT_EQ(restores[0][0].handles_size(), 4);
  for (const proto::TaskRestore& restore : restores[1]) EXPECT_EQ(restore.handles_size(), 0);
  // Sources down to 1: both old producers' channels go to the one.
  ASSERT_OK_AND_ASSIGN(restores, assignState(unalignedSource(), unalignedJob(1, 2), false, edges));
  EXPECT_EQ(restores[0][0].handles_size(), 8);
  // A broadcast edge replays the channels of old consumer 0 only.
  edges[0].broadcast = true;
  ASSERT_OK_AND_ASSIGN(restores, assignState(unalignedSource(), unalignedJob(2, 3), false, edges));
  EXPECT_THAT(channelHandles(restores[0][1]),
              ElementsAre("chk-7/vcounter-s0-a0.state replay-0 as source",
                          "chk-7/vsource-s1-a0.state replay-0 as source"));
}

TEST(StateAssignmentTest, channelStateOfARescaledPointwiseEdgeIsAnError) {
  std::vector<RestoreEdge> edges = {RestoreEdge{0, 0, 1, true, false}};
  ASSERT_OK(assignState(unalignedSource(), unalignedJob(2, 2), false, edges));
  auto result = assignState(unalignedSource(), unalignedJob(2, 3), false, edges);
  ASSERT_STATUS(StatusCode::kInvalidArgument, result);
  EXPECT_THAT(result.status().message(), HasSubstr("pointwise"));
  EXPECT_THAT(result.status().message(), HasSubstr("savepoint"));
  // Without the edges (a caller that does not know them) any rescale of channel state is one.
  ASSERT_STATUS(StatusCode::kInvalidArgument,
                assignState(unalignedSource(), unalignedJob(2, 3), false));
}

TEST(StateAssignmentTest, channelStateNamingAGateTheVertexLacksIsAnError) {
  RestorePoint source = unalignedSource();
  *source.metadata.mutable_operators(1)->mutable_subtasks(0)->add_handles() =
      channelHandle("counter", 0, "in-3-0");
  std::vector<RestoreEdge> edges = {RestoreEdge{0, 0, 1, false, false}};
  auto result = assignState(source, unalignedJob(2, 2), false, edges);
  ASSERT_STATUS(StatusCode::kInvalidArgument, result);
  EXPECT_THAT(result.status().message(), HasSubstr("'in-3-0'"));
}

TEST(StateAssignmentTest, unknownKindIsAnError) {
  RestorePoint source = keyedSource(1);
  source.metadata.mutable_operators(0)->mutable_subtasks(0)->mutable_handles(0)->set_kind("x");
  auto result = assignState(source, keyedJob(1), false);
  ASSERT_FALSE(result.isOk());
  EXPECT_THAT(result.status().message(), HasSubstr("unknown kind 'x'"));
}

}  // namespace
}  // namespace strom::checkpoint
