// The one checking facility for MPI calls: the message carries the expression, file:line,
// host, rank and MPI's own error text. MPI_ERRORS_RETURN is set on every communicator we
// create, so errors come back here instead of aborting the job.
#pragma once

#include <mpi.h>

#include <string>

namespace gpuaccept::collectives::detail {

[[noreturn]] void throw_mpi_error(int code, const char* expression, const char* file, int line);

}  // namespace gpuaccept::collectives::detail

#define GA_MPI_CHECK(expr)                                                                   \
  do {                                                                                       \
    const int ga_mpi_rc_ = (expr);                                                           \
    if (ga_mpi_rc_ != MPI_SUCCESS)                                                           \
      ::gpuaccept::collectives::detail::throw_mpi_error(ga_mpi_rc_, #expr, __FILE__, __LINE__); \
  } while (false)
