#include "collectives/communicator.hpp"

namespace gpuaccept::collectives {

std::unique_ptr<Communicator> open_communicator(kernels::Backend backend, const Group& group,
                                                int device) {
#if defined(GPUACCEPT_HAVE_CUDA)
  if (backend == kernels::Backend::cuda) return detail::open_nccl_communicator(group, device);
#else
  (void)device;
  if (backend == kernels::Backend::cuda)
    throw CollectiveError("NCCL backend requested but this gpuaccept was built without CUDA");
#endif
  return detail::open_mpi_communicator(group);
}

}  // namespace gpuaccept::collectives
