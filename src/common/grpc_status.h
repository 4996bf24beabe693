#pragma once

#include <grpcpp/support/status.h>
#include <strom/status.h>

#include <string>
#include <string_view>

namespace strom {

/// The one adapter between Strom's Status and gRPC's (STYLE §4). Codes map one-to-one, except
/// kIOError, which travels as gRPC UNKNOWN, and gRPC codes Strom has no name for, which arrive as
/// kUnavailable (UNAUTHENTICATED, PERMISSION_DENIED) or kInternal (the rest), with the gRPC
/// code's number in the message.
grpc::Status toGrpcStatus(const Status& status);
/// Convert a gRPC status. `context` names the call ("JobManager 127.0.0.1:6123: SubmitJob") and
/// is prefixed to the message of an error.
Status fromGrpcStatus(const grpc::Status& status, std::string_view context = {});

}  // namespace strom

namespace strom {

/// Send gRPC's own log lines to the "grpc" logger (its errors as warnings, the rest as debug)
/// instead of standard error. Idempotent; the daemons' servers call it when they start.
void routeGrpcLogging();

/// Return why a TCP server could not listen on `host:port`, as the kernel says it ("Address
/// already in use"), by binding a probe socket the way gRPC would (SO_REUSEADDR); empty if it
/// binds, if `port` is 0, or if `host` is not an IPv4 literal. gRPC itself only says that no
/// address could be added.
std::string bindError(const std::string& host, int port);

}  // namespace strom
