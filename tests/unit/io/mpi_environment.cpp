// Finalises MPI after the io tests if one of them started it (support.hpp's world()).
#include <gtest/gtest.h>
#include <mpi.h>

namespace {

class MpiEnvironment : public ::testing::Environment {
 public:
  void TearDown() override {
    int initialised = 0, finalised = 0;
    MPI_Initialized(&initialised);
    MPI_Finalized(&finalised);
    if (initialised && !finalised) MPI_Finalize();
  }
};

[[maybe_unused]] auto* const mpi_environment = ::testing::AddGlobalTestEnvironment(new MpiEnvironment);

}  // namespace
