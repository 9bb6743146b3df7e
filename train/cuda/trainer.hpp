// Data-parallel training on GPUs, one GPU per rank: the CpuTrainer's algorithm (train/trainer.hpp:
// the same batches, loss scaling, buckets, learning-rate schedule and AdamW) with the model on
// the GPU and the gradient all-reduces overlapped with the backward pass.
//
// Overlap: the model enqueues its backward pass on its compute stream and reports each range of
// finished gradients as soon as the work is enqueued (GptModel::backward's `ready`). When a
// bucket is due (BucketPlanner), the trainer records an event on the compute stream, makes the
// reducer's communication stream wait for it (cudaStreamWaitEvent: a dependency on the device,
// the host does not wait) and enqueues the bucket's in-place all-reduce there. The backward pass
// of the layers below runs on the compute stream meanwhile. After the backward pass the compute
// stream waits for the last all-reduce before the gradient norm and AdamW read the gradients.
//
// Timing, with CUDA events: comm_seconds is the sum over buckets of each all-reduce's time on
// the communication stream (from its start there, after its dependency, to its end);
// comm_exposed_seconds is the part that the compute stream did not cover: from the end of the
// backward pass on the compute stream to the end of the last all-reduce (at least 0, at most
// comm_seconds). The last bucket (the embeddings, final only when the backward pass ends) is
// therefore always exposed. Step time is wall-clock from the start of the step until the
// update has finished on the GPU.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/cuda/cuda_raii.hpp"
#include "train/cuda/model.hpp"
#include "train/data.hpp"
#include "train/trainer.hpp"

namespace gpuaccept::train::cuda {

// Sums device gradients over the data-parallel ranks (NCCL in suites/train.cpp).
class DeviceGradientReducer {
 public:
  virtual ~DeviceGradientReducer() = default;
  virtual int ranks() const = 0;
  // The cudaStream_t on which sum() enqueues its work, on this rank's GPU.
  virtual void* stream() const = 0;
  // Enqueues an in-place sum of `count` floats at device address `data` over the ranks on
  // stream(), and returns without waiting for it.
  virtual void sum(float* data, std::size_t count) = 0;
  // Waits until everything enqueued on stream() has completed; throws when a peer or the
  // network failed rather than waiting for ever.
  virtual void synchronize() = 0;
  virtual double mean(double value) = 0;  // of a host scalar over the ranks, blocking
};

class CudaTrainer {
 public:
  // `reducer` may be null (one rank). `rank` selects this rank's slice of the global batch.
  CudaTrainer(const TrainConfig& config, const TokenSource& data, int rank, DeviceGradientReducer* reducer,
              int device);
  StepRecord step(int index);
  std::vector<float> params() const { return model_.params(); }
  std::size_t param_count() const { return model_.layout().total; }
  GptModel& model() { return model_; }

 private:
  struct Bucket {  // the events of one bucket's all-reduce, reused every step
    kernels::gpu::Event ready, start, stop;
  };

  TrainConfig config_;
  const TokenSource& data_;
  int rank_;
  int ranks_;
  DeviceGradientReducer* reducer_;
  GptModel model_;
  std::vector<std::int32_t> inputs_, targets_;
  std::vector<Bucket> buckets_;
  kernels::gpu::Event backward_done_, comm_done_;
};

}  // namespace gpuaccept::train::cuda
