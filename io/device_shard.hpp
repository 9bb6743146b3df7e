// A rank's shard of the model state in GPU memory, with pinned host memory for staging, for
// checkpoints written from and restored to the GPU (cudaMemcpyAsync through pinned buffers, as
// checkpointing libraries do). Built only with the CUDA backend; elsewhere, and where no GPU is
// visible, the checkpoint benchmark reports source=device as not applicable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace gpuaccept::io {

// True when this binary was built with the CUDA backend.
bool device_shard_compiled();

class DeviceShard {
 public:
  // Allocates `bytes` on CUDA device `device`. Throws IoError without the CUDA backend, and
  // KernelError when the device cannot hold it.
  DeviceShard(int device, std::uint64_t bytes);
  DeviceShard(const DeviceShard&) = delete;
  DeviceShard& operator=(const DeviceShard&) = delete;
  ~DeviceShard();

  std::uint64_t size() const;
  // Synchronous copies between the shard at `offset` and host memory (pinned for full speed).
  // Safe to call from any thread: each call selects the shard's device.
  void upload(std::uint64_t offset, std::span<const std::byte> host);
  void download(std::uint64_t offset, std::span<std::byte> host);
  // `count` pinned buffers of `bytes` each, page-aligned, owned by the shard.
  std::vector<std::span<std::byte>> pinned_slots(std::size_t count, std::size_t bytes);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gpuaccept::io
