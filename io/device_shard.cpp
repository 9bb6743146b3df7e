#include "io/device_shard.hpp"

#include "io/io_error.hpp"

#if defined(GPUACCEPT_HAVE_CUDA)
#include <cuda_runtime_api.h>

#include "kernels/cuda/cuda_check.hpp"
#include "kernels/cuda/cuda_raii.hpp"
#endif

namespace gpuaccept::io {

#if defined(GPUACCEPT_HAVE_CUDA)

namespace {
struct FreeHost {
  void operator()(void* p) const noexcept { (void)cudaFreeHost(p); }
};
}  // namespace

struct DeviceShard::Impl {
  int device = 0;
  std::uint64_t bytes = 0;
  kernels::gpu::DeviceBuffer memory;
  std::vector<std::unique_ptr<void, FreeHost>> pinned;
};

bool device_shard_compiled() { return true; }

DeviceShard::DeviceShard(int device, std::uint64_t bytes) : impl_(std::make_unique<Impl>()) {
  impl_->device = device;
  impl_->bytes = bytes;
  GA_CUDA_CHECK(cudaSetDevice(device));
  impl_->memory = kernels::gpu::DeviceBuffer(static_cast<std::size_t>(bytes));
}

DeviceShard::~DeviceShard() = default;

std::uint64_t DeviceShard::size() const { return impl_->bytes; }

void DeviceShard::upload(std::uint64_t offset, std::span<const std::byte> host) {
  GA_CUDA_CHECK(cudaSetDevice(impl_->device));
  auto* target = static_cast<std::byte*>(impl_->memory.get()) + offset;
  GA_CUDA_CHECK(cudaMemcpy(target, host.data(), host.size(), cudaMemcpyHostToDevice));
}

void DeviceShard::download(std::uint64_t offset, std::span<std::byte> host) {
  GA_CUDA_CHECK(cudaSetDevice(impl_->device));
  const auto* source = static_cast<const std::byte*>(impl_->memory.get()) + offset;
  GA_CUDA_CHECK(cudaMemcpy(host.data(), source, host.size(), cudaMemcpyDeviceToHost));
}

std::vector<std::span<std::byte>> DeviceShard::pinned_slots(std::size_t count, std::size_t bytes) {
  GA_CUDA_CHECK(cudaSetDevice(impl_->device));
  std::vector<std::span<std::byte>> slots;
  for (std::size_t i = 0; i < count; ++i) {
    void* p = nullptr;
    GA_CUDA_CHECK(cudaHostAlloc(&p, bytes, cudaHostAllocDefault));
    impl_->pinned.emplace_back(p);
    slots.emplace_back(static_cast<std::byte*>(p), bytes);
  }
  return slots;
}

#else

struct DeviceShard::Impl {};

bool device_shard_compiled() { return false; }

DeviceShard::DeviceShard(int, std::uint64_t) {
  throw IoError("checkpoints from GPU memory need the CUDA backend, and this build has none");
}

DeviceShard::~DeviceShard() = default;
std::uint64_t DeviceShard::size() const { return 0; }
void DeviceShard::upload(std::uint64_t, std::span<const std::byte>) {}
void DeviceShard::download(std::uint64_t, std::span<std::byte>) {}
std::vector<std::span<std::byte>> DeviceShard::pinned_slots(std::size_t, std::size_t) { return {}; }

#endif

}  // namespace gpuaccept::io
