#include "common/grpc_status.h"

#include <arpa/inet.h>
#include <grpc/support/log.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <string>

#include "common/logging.h"

namespace strom {

grpc::Status toGrpcStatus(const Status& status) {
  if (status.isOk()) return grpc::Status::OK;
  grpc::StatusCode code = status.code() == StatusCode::kIOError
                              ? grpc::StatusCode::UNKNOWN
                              : static_cast<grpc::StatusCode>(static_cast<int>(status.code()));
  return grpc::Status(code, status.message());
}

Status fromGrpcStatus(const grpc::Status& status, std::string_view context) {
  if (status.ok()) return Status::ok();
  StatusCode code;
  std::string message = status.error_message();
  switch (status.error_code()) {
    case grpc::StatusCode::CANCELLED:
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::NOT_FOUND:
    case grpc::StatusCode::ALREADY_EXISTS:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::INTERNAL:
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DATA_LOSS:
      code = static_cast<StatusCode>(static_cast<int>(status.error_code()));
      break;
    case grpc::StatusCode::UNKNOWN:
      code = StatusCode::kIOError;
      break;
    case grpc::StatusCode::UNAUTHENTICATED:
    case grpc::StatusCode::PERMISSION_DENIED:
      code = StatusCode::kUnavailable;
      message = "gRPC code " + std::to_string(status.error_code()) + ": " + message;
      break;
    default:
      code = StatusCode::kInternal;
      message = "gRPC code " + std::to_string(status.error_code()) + ": " + message;
      break;
  }
  if (message.empty()) message = "(no message)";
  Status result(code, std::move(message));
  return context.empty() ? result : result.withContext(context);
}

namespace {

void logToSpdlog(gpr_log_func_args* args) {
  static const std::shared_ptr<spdlog::logger> logger = moduleLogger("grpc");
  if (args->severity == GPR_LOG_SEVERITY_ERROR) {
    logger->warn("{} ({}:{})", args->message, args->file, args->line);
  } else {
    logger->debug("{} ({}:{})", args->message, args->file, args->line);
  }
}

}  // namespace

void routeGrpcLogging() {
  static std::once_flag once;
  std::call_once(once, [] { gpr_set_log_function(logToSpdlog); });
}

std::string bindError(const std::string& host, int port) {
  if (port == 0) return "";
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, host.c_str(), &address.sin_addr) != 1) return "";
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "";
  int one = 1;
  // As gRPC's listener does: a port whose last connections linger in TIME_WAIT is free.
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  std::string error;
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    error = std::strerror(errno);
  }
  ::close(fd);
  return error;
}

}  // namespace strom
