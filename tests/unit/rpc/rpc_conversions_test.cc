// The control plane's conversions: a JobGraph's topology, deployment descriptors (with their
// restore), task states, job states and the checkpoint messages (trigger, notification, ack,
// decline) through their protobuf form and back; checks on what a peer sends; the
// Status <-> grpc::Status adapter; sha256.

#include <gmock/gmock.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>
#include <strom/strom.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/grpc_status.h"
#include "common/sha256.h"
#include "graph/job_graph.h"
#include "graph/job_graph_proto.h"
#include "graph/stream_graph.h"
#include "runtime/jobmanager/job_status_proto.h"
#include "runtime/task/deployment_proto.h"
#include "testutil/status_matchers.h"

namespace strom {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::shared_ptr<const graph::JobGraph> wordCountLikeGraph() {
  StreamExecutionEnvironment env;
  env.fromSequence(1, 100)
      .map([](const int64_t& v) { return v * 2; })
      .keyBy([](const int64_t& v) { return v % 7; })
      .reduce([](const int64_t& a, const int64_t& b) { return a + b; })
      .rebalance()
      .sinkTo(std::make_shared<CollectSink<int64_t>>(std::make_shared<CollectedRecords<int64_t>>()),
              "Collect");
  auto streamGraph = graph::StreamGraph::create(env.transformations(), 3, 128);
  EXPECT_TRUE(streamGraph.isOk()) << streamGraph.status().toString();
  Configuration configuration;
  configuration.set("pipeline.name", "word count");
  configuration.set("taskmanager.network.memory.buffers-per-channel", "4");
  auto jobGraph = graph::JobGraph::create(*streamGraph, "rpc test", configuration);
  EXPECT_TRUE(jobGraph.isOk()) << jobGraph.status().toString();
  return *jobGraph;
}

TEST(RpcConversionsTest, jobGraphTopologyRoundTrips) {
  auto original = wordCountLikeGraph();
  ASSERT_GE(original->edges().size(), 2u);
  rpc::JobGraph proto;
  graph::jobGraphToProto(*original, &proto);
  // Through bytes, as it travels.
  rpc::JobGraph parsed;
  ASSERT_TRUE(parsed.ParseFromString(proto.SerializeAsString()));
  ASSERT_OK_AND_ASSIGN(auto copy, graph::jobGraphFromProto(parsed));

  EXPECT_EQ(copy->jobName(), original->jobName());
  EXPECT_FALSE(copy->hasStreamGraph());
  EXPECT_TRUE(original->hasStreamGraph());
  EXPECT_EQ(copy->configuration().entries(), original->configuration().entries());
  ASSERT_EQ(copy->vertices().size(), original->vertices().size());
  for (size_t i = 0; i < original->vertices().size(); ++i) {
    const graph::JobVertex& a = original->vertices()[i];
    const graph::JobVertex& b = copy->vertices()[i];
    EXPECT_EQ(b.id, a.id);
    EXPECT_EQ(b.name, a.name);
    EXPECT_EQ(b.parallelism, a.parallelism);
    EXPECT_EQ(b.maxParallelism, a.maxParallelism);
    EXPECT_EQ(b.chain, a.chain);
    EXPECT_EQ(b.chainUids, a.chainUids);
    EXPECT_EQ(b.chainUids.size(), a.chain.size());
    EXPECT_EQ(b.inputs, a.inputs);
    EXPECT_EQ(b.outputs, a.outputs);
    for (int node : a.chain) EXPECT_EQ(copy->vertexOfNode(node), original->vertexOfNode(node));
  }
  ASSERT_EQ(copy->edges().size(), original->edges().size());
  for (size_t i = 0; i < original->edges().size(); ++i) {
    const graph::JobEdge& a = original->edges()[i];
    const graph::JobEdge& b = copy->edges()[i];
    EXPECT_EQ(b.id, a.id);
    EXPECT_EQ(b.sourceVertex, a.sourceVertex);
    EXPECT_EQ(b.targetVertex, a.targetVertex);
    EXPECT_EQ(b.streamEdge, a.streamEdge);
    EXPECT_EQ(b.kind, a.kind);
  }
  EXPECT_EQ(copy->maxVertexParallelism(), original->maxVertexParallelism());
  EXPECT_EQ(copy->fingerprint(), original->fingerprint());
  EXPECT_EQ(copy->fingerprint().size(), 32u);
  EXPECT_EQ(copy->toJson(), original->toJson());
}

TEST(RpcConversionsTest, everyPartitionerKindRoundTrips) {
  for (PartitionerKind kind :
       {PartitionerKind::kForward, PartitionerKind::kRescale, PartitionerKind::kRebalance,
        PartitionerKind::kBroadcast, PartitionerKind::kHash}) {
    ASSERT_OK_AND_ASSIGN(PartitionerKind back,
                         graph::partitionerKindFromProto(graph::partitionerKindToProto(kind)));
    EXPECT_EQ(back, kind);
  }
  ASSERT_STATUS(StatusCode::kInvalidArgument, graph::partitionerKindFromProto(99));
}

TEST(RpcConversionsTest, topologyOnlyGraphAbortsOnStreamGraph) {
  rpc::JobGraph proto;
  graph::jobGraphToProto(*wordCountLikeGraph(), &proto);
  ASSERT_OK_AND_ASSIGN(auto copy, graph::jobGraphFromProto(proto));
  EXPECT_DEATH((void)copy->streamGraph(), "holds only the topology");
}

/// A valid two-vertex topology, for the negative cases to break one thing each.
rpc::JobGraph twoVertices() {
  rpc::JobGraph proto;
  proto.set_job_name("two");
  for (int i = 0; i < 2; ++i) {
    rpc::JobVertex* v = proto.add_vertices();
    v->set_id(i);
    v->set_name(i == 0 ? "Source" : "Sink");
    v->set_parallelism(2);
    v->set_max_parallelism(128);
    v->add_chain(i);
    v->add_chain_uids("node-" + std::to_string(i));
  }
  proto.mutable_vertices(0)->add_outputs(0);
  proto.mutable_vertices(1)->add_inputs(0);
  rpc::JobEdge* e = proto.add_edges();
  e->set_id(0);
  e->set_source_vertex(0);
  e->set_target_vertex(1);
  e->set_kind(rpc::PARTITIONER_HASH);
  return proto;
}

TEST(RpcConversionsTest, inconsistentTopologiesAreRejectedNamingWhatIsWrong) {
  ASSERT_OK(graph::jobGraphFromProto(twoVertices()));
  struct Case {
    std::string expected;
    std::function<void(rpc::JobGraph&)> breakIt;
  };
  std::vector<Case> cases = {
      {"has no vertices", [](rpc::JobGraph& g) { g.clear_vertices(); }},
      {"vertex 1 'Sink' has id 5", [](rpc::JobGraph& g) { g.mutable_vertices(1)->set_id(5); }},
      {"parallelism 0", [](rpc::JobGraph& g) { g.mutable_vertices(0)->set_parallelism(0); }},
      {"parallelism 200", [](rpc::JobGraph& g) { g.mutable_vertices(0)->set_parallelism(200); }},
      {"empty chain", [](rpc::JobGraph& g) { g.mutable_vertices(0)->clear_chain(); }},
      {"chained twice", [](rpc::JobGraph& g) { g.mutable_vertices(1)->set_chain(0, 0); }},
      {"edge 0 connects vertex 1 to 0",
       [](rpc::JobGraph& g) {
         g.mutable_edges(0)->set_source_vertex(1);
         g.mutable_edges(0)->set_target_vertex(0);
       }},
      {"edge 0 connects vertex 0 to 7",
       [](rpc::JobGraph& g) { g.mutable_edges(0)->set_target_vertex(7); }},
      {"input edge 3", [](rpc::JobGraph& g) { g.mutable_vertices(1)->set_inputs(0, 3); }},
      {"edge 0 is not among", [](rpc::JobGraph& g) { g.mutable_vertices(1)->clear_inputs(); }},
      {"unknown partitioner kind 42",
       [](rpc::JobGraph& g) {
         g.mutable_edges(0)->set_kind(static_cast<rpc::PartitionerKind>(42));
       }},
  };
  for (const Case& c : cases) {
    rpc::JobGraph proto = twoVertices();
    c.breakIt(proto);
    auto graph = graph::jobGraphFromProto(proto);
    ASSERT_FALSE(graph.isOk()) << c.expected;
    EXPECT_EQ(graph.status().code(), StatusCode::kInvalidArgument) << c.expected;
    EXPECT_THAT(graph.status().message(), HasSubstr(c.expected));
    EXPECT_THAT(graph.status().message(), HasSubstr("job graph 'two'"));
  }
}

TEST(RpcConversionsTest, deploymentRoundTripsWithoutItsGraph) {
  runtime::TaskDeploymentDescriptor d;
  d.attemptId = runtime::ExecutionAttemptId{"job-1", 2, 1, 3};
  d.jobGraph = wordCountLikeGraph();
  auto info = std::make_shared<runtime::JobInformation>();
  info->jobName = "word count";
  info->libraryKey = Sha256::hexOf("library");
  info->args = {"--input", "a b", ""};
  info->configuration.set("parallelism.default", "3");
  info->fingerprint = "f00d";
  d.jobInformation = info;
  d.outputs.push_back(
      runtime::ResultPartitionDescriptor{4, network::ResultPartitionId{"job-1", 4, 1, 3}, 5});
  runtime::InputGateDescriptor gate;
  gate.jobEdge = 1;
  gate.channels.push_back(runtime::InputChannelDescriptor{
      network::ResultPartitionId{"job-1", 1, 0, 3}, 1, "127.0.0.1:4000"});
  gate.channels.push_back(
      runtime::InputChannelDescriptor{network::ResultPartitionId{"job-1", 1, 1, 3}, 1, ""});
  d.inputs.push_back(gate);

  rpc::TaskDeploymentDescriptor proto;
  runtime::deploymentToProto(d, &proto);
  rpc::TaskDeploymentDescriptor parsed;
  ASSERT_TRUE(parsed.ParseFromString(proto.SerializeAsString()));
  ASSERT_OK_AND_ASSIGN(runtime::TaskDeploymentDescriptor copy,
                       runtime::deploymentFromProto(parsed));
  EXPECT_EQ(copy.attemptId, d.attemptId);
  EXPECT_EQ(copy.jobGraph, nullptr);
  ASSERT_NE(copy.jobInformation, nullptr);
  EXPECT_EQ(copy.jobInformation->jobName, info->jobName);
  EXPECT_EQ(copy.jobInformation->libraryKey, info->libraryKey);
  EXPECT_EQ(copy.jobInformation->args, info->args);
  EXPECT_EQ(copy.jobInformation->configuration.entries(), info->configuration.entries());
  EXPECT_EQ(copy.jobInformation->fingerprint, info->fingerprint);
  ASSERT_EQ(copy.outputs.size(), 1u);
  EXPECT_EQ(copy.outputs[0].jobEdge, 4);
  EXPECT_EQ(copy.outputs[0].id, d.outputs[0].id);
  EXPECT_EQ(copy.outputs[0].numSubpartitions, 5);
  ASSERT_EQ(copy.inputs.size(), 1u);
  EXPECT_EQ(copy.inputs[0].jobEdge, 1);
  ASSERT_EQ(copy.inputs[0].channels.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(copy.inputs[0].channels[i].partition, gate.channels[i].partition);
    EXPECT_EQ(copy.inputs[0].channels[i].subpartition, gate.channels[i].subpartition);
    EXPECT_EQ(copy.inputs[0].channels[i].producerDataAddress, gate.channels[i].producerDataAddress);
  }
}

TEST(RpcConversionsTest, badDeploymentsAreRejected) {
  rpc::TaskDeploymentDescriptor proto;
  proto.mutable_attempt_id()->set_job_id("job-1");
  auto noInfo = runtime::deploymentFromProto(proto);
  ASSERT_STATUS(StatusCode::kInvalidArgument, noInfo);
  EXPECT_THAT(noInfo.status().message(), HasSubstr("no job information"));

  proto.mutable_job_information()->set_job_name("j");
  proto.add_outputs()->set_num_subpartitions(0);
  auto noSubpartitions = runtime::deploymentFromProto(proto);
  ASSERT_STATUS(StatusCode::kInvalidArgument, noSubpartitions);
  EXPECT_THAT(noSubpartitions.status().message(), HasSubstr("0 subpartitions"));

  proto.clear_outputs();
  proto.mutable_attempt_id()->set_subtask_index(-1);
  ASSERT_STATUS(StatusCode::kInvalidArgument, runtime::deploymentFromProto(proto));
}

checkpoint::proto::StateHandle someHandle(const std::string& path, const std::string& kind) {
  checkpoint::proto::StateHandle handle;
  handle.set_path(path);
  handle.set_offset(128);
  handle.set_length(4096);
  handle.set_checksum(0xfedcba9876543210ULL);
  handle.set_kind(kind);
  handle.set_key_group_start(3);
  handle.set_key_group_end(17);
  handle.set_operator_uid("node-4");
  handle.set_name(kind == "operator" ? "offsets" : "");
  handle.set_mode(kind == "operator" ? 1 : 0);
  handle.set_subtask_index(2);
  return handle;
}

/// Round trip `message` through its bytes (as gRPC sends it).
template <typename Message>
Message throughTheWire(const Message& message) {
  Message parsed;
  EXPECT_TRUE(parsed.ParseFromString(message.SerializeAsString()));
  return parsed;
}

bool equal(const google::protobuf::Message& a, const google::protobuf::Message& b) {
  return google::protobuf::util::MessageDifferencer::Equals(a, b);
}

TEST(RpcConversionsTest, deploymentRestoreRoundTrips) {
  runtime::TaskDeploymentDescriptor d;
  d.attemptId = runtime::ExecutionAttemptId{"job-1", 1, 2, 4};
  d.jobInformation = std::make_shared<runtime::JobInformation>();
  auto restore = std::make_shared<checkpoint::proto::TaskRestore>();
  restore->set_checkpoint_id(42);
  restore->set_root_dir("/var/lib/strom/checkpoints/job-1");
  *restore->add_handles() = someHandle("chk-42/v1-s2-a3.state", "keyed");
  *restore->add_handles() = someHandle("chk-42/v1-s0-a3.state", "operator");
  checkpoint::proto::SplitSelect select;
  select.set_modulus(3);
  select.set_remainder(2);
  (*restore->mutable_split_select())["node-4/offsets"] = select;
  d.restore = restore;

  rpc::TaskDeploymentDescriptor proto;
  runtime::deploymentToProto(d, &proto);
  ASSERT_OK_AND_ASSIGN(runtime::TaskDeploymentDescriptor copy,
                       runtime::deploymentFromProto(throughTheWire(proto)));
  ASSERT_NE(copy.restore, nullptr);
  EXPECT_TRUE(equal(*copy.restore, *restore)) << copy.restore->DebugString();

  // A fresh start has none.
  d.restore = nullptr;
  rpc::TaskDeploymentDescriptor fresh;
  runtime::deploymentToProto(d, &fresh);
  EXPECT_FALSE(fresh.has_restore());
  ASSERT_OK_AND_ASSIGN(runtime::TaskDeploymentDescriptor freshCopy,
                       runtime::deploymentFromProto(fresh));
  EXPECT_EQ(freshCopy.restore, nullptr);
}

TEST(RpcConversionsTest, deploymentCheckpointingRoundTripsAndARelativeDirectoryIsRejected) {
  runtime::TaskDeploymentDescriptor d;
  d.attemptId = runtime::ExecutionAttemptId{"job-1", 1, 2, 4};
  d.jobInformation = std::make_shared<runtime::JobInformation>();
  rpc::TaskDeploymentDescriptor unset;
  runtime::deploymentToProto(d, &unset);
  EXPECT_FALSE(unset.has_checkpointing());
  ASSERT_OK_AND_ASSIGN(runtime::TaskDeploymentDescriptor unsetCopy,
                       runtime::deploymentFromProto(throughTheWire(unset)));
  EXPECT_FALSE(unsetCopy.checkpointing.has_value());

  d.checkpointing = runtime::TaskDeploymentDescriptor::Checkpointing{true, "/shared/checkpoints"};
  rpc::TaskDeploymentDescriptor proto;
  runtime::deploymentToProto(d, &proto);
  ASSERT_OK_AND_ASSIGN(runtime::TaskDeploymentDescriptor copy,
                       runtime::deploymentFromProto(throughTheWire(proto)));
  ASSERT_TRUE(copy.checkpointing.has_value());
  EXPECT_TRUE(copy.checkpointing->periodic);
  EXPECT_EQ(copy.checkpointing->directory, "/shared/checkpoints");

  proto.mutable_checkpointing()->set_directory("relative/checkpoints");
  auto relative = runtime::deploymentFromProto(proto);
  ASSERT_STATUS(StatusCode::kInvalidArgument, relative);
  EXPECT_THAT(relative.status().message(), HasSubstr("'relative/checkpoints'"));
}

TEST(RpcConversionsTest, malformedRestoresAreRejectedNamingTheCheck) {
  rpc::TaskDeploymentDescriptor proto;
  runtime::executionAttemptIdToProto(runtime::ExecutionAttemptId{"job-1", 0, 0, 1},
                                     proto.mutable_attempt_id());
  proto.mutable_job_information()->set_job_name("j");
  auto expectRejected = [&](const std::string& what) {
    auto result = runtime::deploymentFromProto(proto);
    ASSERT_STATUS(StatusCode::kInvalidArgument, result);
    EXPECT_THAT(result.status().message(), HasSubstr(what));
    EXPECT_THAT(result.status().message(), HasSubstr("job-1"));
  };
  checkpoint::proto::TaskRestore* restore = proto.mutable_restore();
  restore->set_checkpoint_id(7);
  restore->set_root_dir("relative/dir");
  expectRejected("root_dir 'relative/dir' is not an absolute path");
  restore->set_root_dir("/checkpoints/job-1");
  *restore->add_handles() = someHandle("chk-7/../../etc/passwd", "keyed");
  expectRejected("'chk-7/../../etc/passwd' leaves its root directory");
  *restore->mutable_handles(0) = someHandle("/etc/passwd", "keyed");
  expectRejected("'/etc/passwd' has an absolute path");
  *restore->mutable_handles(0) = someHandle("", "keyed");
  expectRejected("has no path");
  *restore->mutable_handles(0) = someHandle("chk-7/a.state", "keyed");
  restore->mutable_handles(0)->set_key_group_start(9);
  restore->mutable_handles(0)->set_key_group_end(8);
  expectRejected("key groups [9, 8]");
  *restore->mutable_handles(0) = someHandle("chk-7/a.state", "keyed");
  restore->mutable_handles(0)->set_offset(~uint64_t{0} - 10);
  expectRejected("byte range past 2^64");
  *restore->mutable_handles(0) = someHandle("chk-7/..a/b..", "keyed");  // not ".." itself
  ASSERT_OK(runtime::deploymentFromProto(proto).status());
  checkpoint::proto::SplitSelect select;
  select.set_modulus(0);
  (*restore->mutable_split_select())["u/s"] = select;
  expectRejected("split_select of 'u/s' keeps remainder 0 of modulus 0");
  select.set_modulus(2);
  select.set_remainder(2);
  (*restore->mutable_split_select())["u/s"] = select;
  expectRejected("remainder 2 of modulus 2");
}

TEST(RpcConversionsTest, checkpointTriggerAndNotificationRoundTrip) {
  runtime::CheckpointTrigger trigger;
  trigger.attemptId = runtime::ExecutionAttemptId{"job-9", 0, 1, 2};
  trigger.checkpointId = 12;
  trigger.timestamp = 1700000000123;
  trigger.options.set_type(0);
  trigger.options.set_savepoint(true);
  trigger.options.set_terminate(true);
  rpc::TriggerCheckpointRequest proto;
  runtime::checkpointTriggerToProto(trigger, &proto);
  ASSERT_OK_AND_ASSIGN(runtime::CheckpointTrigger copy,
                       runtime::checkpointTriggerFromProto(throughTheWire(proto)));
  EXPECT_EQ(copy.attemptId, trigger.attemptId);
  EXPECT_EQ(copy.checkpointId, 12);
  EXPECT_EQ(copy.timestamp, trigger.timestamp);
  EXPECT_TRUE(equal(copy.options, trigger.options));

  trigger.options.Clear();
  trigger.options.set_type(2);
  trigger.options.set_final(true);
  runtime::checkpointTriggerToProto(trigger, &proto);
  ASSERT_OK_AND_ASSIGN(copy, runtime::checkpointTriggerFromProto(throughTheWire(proto)));
  EXPECT_TRUE(equal(copy.options, trigger.options));

  proto.mutable_options()->set_type(4);
  auto badType = runtime::checkpointTriggerFromProto(proto);
  ASSERT_STATUS(StatusCode::kInvalidArgument, badType);
  EXPECT_THAT(badType.status().message(), HasSubstr("checkpoint type 4"));
  EXPECT_THAT(badType.status().message(), HasSubstr("checkpoint 12 of"));
  proto.mutable_options()->set_type(0);
  proto.mutable_options()->set_terminate(true);
  auto terminateCheckpoint = runtime::checkpointTriggerFromProto(proto);
  ASSERT_STATUS(StatusCode::kInvalidArgument, terminateCheckpoint);
  EXPECT_THAT(terminateCheckpoint.status().message(), HasSubstr("terminate"));
  proto.mutable_options()->set_terminate(false);
  proto.set_checkpoint_id(0);
  auto badId = runtime::checkpointTriggerFromProto(proto);
  ASSERT_STATUS(StatusCode::kInvalidArgument, badId);
  EXPECT_THAT(badId.status().message(), HasSubstr("checkpoint id 0 is not positive"));
  proto.set_checkpoint_id(1);
  proto.mutable_attempt_id()->set_job_id("");
  ASSERT_STATUS(StatusCode::kInvalidArgument, runtime::checkpointTriggerFromProto(proto));

  rpc::CheckpointNotification notification;
  runtime::checkpointNotificationToProto(trigger.attemptId, 77, &notification);
  ASSERT_OK_AND_ASSIGN(auto parsed,
                       runtime::checkpointNotificationFromProto(throughTheWire(notification)));
  EXPECT_EQ(parsed.first, trigger.attemptId);
  EXPECT_EQ(parsed.second, 77);
  notification.set_checkpoint_id(-1);
  ASSERT_STATUS(StatusCode::kInvalidArgument,
                runtime::checkpointNotificationFromProto(notification));
}

TEST(RpcConversionsTest, subtaskStateAcknowledgementAndDeclineRoundTrip) {
  runtime::CheckpointAcknowledgement ack;
  ack.attemptId = runtime::ExecutionAttemptId{"job-3", 4, 2, 0};
  ack.checkpointId = 5;
  ack.state.set_subtask_index(2);
  *ack.state.add_handles() = someHandle("chk-5/v4-s2-a0.state", "keyed");
  *ack.state.add_handles() = someHandle("chk-5/v4-s2-a0.state", "operator");
  *ack.state.add_handles() = someHandle("chk-5/v4-s2-a0.state", "channel");
  checkpoint::proto::SourcePosition* position = ack.state.add_source_positions();
  position->set_split("file-0");
  position->set_position(std::string("\x00\x01\xff", 3));
  rpc::AcknowledgeCheckpointRequest proto;
  runtime::checkpointAcknowledgementToProto(ack, &proto);
  ASSERT_OK_AND_ASSIGN(runtime::CheckpointAcknowledgement copy,
                       runtime::checkpointAcknowledgementFromProto(throughTheWire(proto)));
  EXPECT_EQ(copy.attemptId, ack.attemptId);
  EXPECT_EQ(copy.checkpointId, 5);
  EXPECT_TRUE(equal(copy.state, ack.state)) << copy.state.DebugString();

  proto.mutable_subtask_state()->mutable_handles(1)->set_path("../other-job/chk-5/x.state");
  auto escaping = runtime::checkpointAcknowledgementFromProto(proto);
  ASSERT_STATUS(StatusCode::kInvalidArgument, escaping);
  EXPECT_THAT(escaping.status().message(), HasSubstr("acknowledgement of checkpoint 5"));
  EXPECT_THAT(escaping.status().message(), HasSubstr("leaves its root directory"));

  runtime::CheckpointDecline decline;
  decline.attemptId = ack.attemptId;
  decline.checkpointId = 6;
  decline.reason = Status::ioError("cannot write /ckpt/chk-6/v4-s2-a0.state: No space left");
  rpc::DeclineCheckpointRequest declineProto;
  runtime::checkpointDeclineToProto(decline, &declineProto);
  ASSERT_OK_AND_ASSIGN(runtime::CheckpointDecline declineCopy,
                       runtime::checkpointDeclineFromProto(throughTheWire(declineProto)));
  EXPECT_EQ(declineCopy.attemptId, decline.attemptId);
  EXPECT_EQ(declineCopy.checkpointId, 6);
  EXPECT_EQ(declineCopy.reason.code(), StatusCode::kIOError);
  EXPECT_EQ(declineCopy.reason.message(), decline.reason.message());

  // A decline never reads as OK.
  declineProto.clear_reason();
  ASSERT_OK_AND_ASSIGN(declineCopy, runtime::checkpointDeclineFromProto(declineProto));
  EXPECT_EQ(declineCopy.reason.code(), StatusCode::kInternal);
  EXPECT_THAT(declineCopy.reason.message(), HasSubstr("declined without a reason"));
}

TEST(RpcConversionsTest, taskExecutionStateRoundTrips) {
  runtime::TaskExecutionState state;
  state.attemptId = runtime::ExecutionAttemptId{"job-2", 0, 1, 0};
  state.state = runtime::ExecutionState::kFailed;
  state.error = Status::ioError("disk full");
  state.counters = {{"Map.numRecordsIn", 10}, {"Sink.numRecordsIn", -1}};
  rpc::TaskExecutionState proto;
  runtime::taskExecutionStateToProto(state, &proto);
  ASSERT_OK_AND_ASSIGN(runtime::TaskExecutionState copy,
                       runtime::taskExecutionStateFromProto(proto));
  EXPECT_EQ(copy.attemptId, state.attemptId);
  EXPECT_EQ(copy.state, state.state);
  EXPECT_EQ(copy.error.code(), StatusCode::kIOError);
  EXPECT_EQ(copy.error.message(), "disk full");
  EXPECT_EQ(copy.counters, state.counters);

  for (auto s : {runtime::ExecutionState::kCreated, runtime::ExecutionState::kDeploying,
                 runtime::ExecutionState::kRunning, runtime::ExecutionState::kFinished,
                 runtime::ExecutionState::kCanceling, runtime::ExecutionState::kCanceled,
                 runtime::ExecutionState::kFailed}) {
    ASSERT_OK_AND_ASSIGN(auto back,
                         runtime::executionStateFromProto(runtime::executionStateToProto(s)));
    EXPECT_EQ(back, s);
  }
  // A failure without an error still fails the job with a message.
  proto.clear_error();
  ASSERT_OK_AND_ASSIGN(copy, runtime::taskExecutionStateFromProto(proto));
  EXPECT_FALSE(copy.error.isOk());
  proto.set_state(static_cast<rpc::ExecutionState>(77));
  ASSERT_STATUS(StatusCode::kInvalidArgument, runtime::taskExecutionStateFromProto(proto));
}

TEST(RpcConversionsTest, jobStatusInfoRoundTrips) {
  runtime::JobStatusInfo info;
  info.jobId = "0123456789abcdef0123456789abcdef";
  info.jobName = "word count";
  info.status = runtime::JobStatus::kFailed;
  info.startTimeMs = 1700000000000;
  info.durationMs = 1234;
  info.restarts = 2;
  info.failure = Status::unavailable("TaskManager tm-1 lost");
  info.counters = {{"Map.numRecordsIn", 7}};
  rpc::JobStatusInfo proto;
  runtime::jobStatusInfoToProto(info, &proto);
  ASSERT_OK_AND_ASSIGN(runtime::JobStatusInfo copy, runtime::jobStatusInfoFromProto(proto));
  EXPECT_EQ(copy.jobId, info.jobId);
  EXPECT_EQ(copy.jobName, info.jobName);
  EXPECT_EQ(copy.status, info.status);
  EXPECT_EQ(copy.startTimeMs, info.startTimeMs);
  EXPECT_EQ(copy.durationMs, info.durationMs);
  EXPECT_EQ(copy.restarts, info.restarts);
  EXPECT_EQ(copy.failure.toString(), info.failure.toString());
  EXPECT_EQ(copy.counters, info.counters);
  for (auto s :
       {runtime::JobStatus::kCreated, runtime::JobStatus::kRunning, runtime::JobStatus::kFailing,
        runtime::JobStatus::kFailed, runtime::JobStatus::kCancelling, runtime::JobStatus::kCanceled,
        runtime::JobStatus::kFinished, runtime::JobStatus::kRestarting}) {
    ASSERT_OK_AND_ASSIGN(auto back, runtime::jobStatusFromProto(runtime::jobStatusToProto(s)));
    EXPECT_EQ(back, s);
  }
  ASSERT_STATUS(StatusCode::kInvalidArgument, runtime::jobStatusFromProto(0));
}

TEST(RpcConversionsTest, statusCodesSurviveGrpc) {
  for (StatusCode code :
       {StatusCode::kCancelled, StatusCode::kInvalidArgument, StatusCode::kDeadlineExceeded,
        StatusCode::kNotFound, StatusCode::kAlreadyExists, StatusCode::kResourceExhausted,
        StatusCode::kFailedPrecondition, StatusCode::kInternal, StatusCode::kUnavailable,
        StatusCode::kCorruption, StatusCode::kIOError}) {
    Status status(code, "what went wrong");
    Status back = fromGrpcStatus(toGrpcStatus(status));
    EXPECT_EQ(back.code(), code) << status.toString();
    EXPECT_EQ(back.message(), "what went wrong");
  }
  EXPECT_TRUE(fromGrpcStatus(toGrpcStatus(Status::ok())).isOk());
  EXPECT_EQ(toGrpcStatus(Status::corruption("x")).error_code(), grpc::StatusCode::DATA_LOSS);
  EXPECT_EQ(toGrpcStatus(Status::ioError("x")).error_code(), grpc::StatusCode::UNKNOWN);
  Status withContext = fromGrpcStatus(
      grpc::Status(grpc::StatusCode::UNAVAILABLE, "connection refused"), "JobManager 127.0.0.1:1");
  EXPECT_EQ(withContext.message(), "JobManager 127.0.0.1:1: connection refused");
  Status unimplemented = fromGrpcStatus(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "nope"));
  EXPECT_EQ(unimplemented.code(), StatusCode::kInternal);
  EXPECT_THAT(unimplemented.message(), HasSubstr("gRPC code 12"));
}

TEST(RpcConversionsTest, sha256MatchesKnownDigests) {
  EXPECT_EQ(Sha256::hexOf(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256::hexOf("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  Sha256 incremental;
  incremental.update("a");
  incremental.update("bc");
  EXPECT_EQ(incremental.finishHex(), Sha256::hexOf("abc"));
  EXPECT_TRUE(Sha256::isHexDigest(Sha256::hexOf("x")));
  EXPECT_FALSE(Sha256::isHexDigest("../etc/passwd"));
  EXPECT_FALSE(Sha256::isHexDigest(std::string(64, 'A')));
  ASSERT_STATUS(StatusCode::kIOError, Sha256::hexOfFile("/nonexistent/file"));
}

}  // namespace
}  // namespace strom
