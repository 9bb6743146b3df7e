// GPU telemetry through NVML, loaded at run time with dlopen("libnvidia-ml.so.1"): power,
// SM and memory clocks, temperature, clock event ("throttle") reasons, ECC error counters,
// remapped rows and retired pages of one GPU, read on demand (burnin reads once per interval).
//
// No NVML header is installed where gpuaccept builds, so the few types, values and functions
// used are declared here from NVML's documented C ABI (nvml.h, NVML API version 12). Without
// the library (no driver, a container without it) telemetry is absent: available() is false
// and why_absent() says why, in one sentence; it is never an error. A quantity that a GPU or
// the driver does not report (NVML_ERROR_NOT_SUPPORTED, no permission, a MIG instance) reads
// as NaN, and the first failure of each quantity is kept as a note.
//
// The decoding layer (reason bitmasks to names, error codes to names, summaries of a series)
// needs no NVML and is what the unit tests exercise; the reading layer runs over a table of
// function pointers (nvml::Api) so that it is testable with fakes.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gpuaccept::kernels {

inline constexpr const char* kNvmlLibrary = "libnvidia-ml.so.1";

// --- NVML's ABI: the subset used, with nvml.h's names in the comments ----------------------
namespace nvml {

using Return = int;            // nvmlReturn_t
struct DeviceOpaque;           // struct nvmlDevice_st
using Device = DeviceOpaque*;  // nvmlDevice_t

inline constexpr Return kSuccess = 0;                // NVML_SUCCESS
inline constexpr Return kErrorNotSupported = 3;      // NVML_ERROR_NOT_SUPPORTED
inline constexpr Return kErrorNotFound = 6;          // NVML_ERROR_NOT_FOUND
inline constexpr Return kErrorInsufficientSize = 7;  // NVML_ERROR_INSUFFICIENT_SIZE
inline constexpr Return kErrorGpuIsLost = 15;        // NVML_ERROR_GPU_IS_LOST

enum ClockType : int { kClockGraphics = 0, kClockSm = 1, kClockMem = 2 };   // nvmlClockType_t
enum TemperatureSensor : int { kTemperatureGpu = 0 };                       // nvmlTemperatureSensors_t
enum MemoryErrorType : int { kCorrected = 0, kUncorrected = 1 };            // nvmlMemoryErrorType_t
enum EccCounterType : int { kVolatileEcc = 0, kAggregateEcc = 1 };          // nvmlEccCounterType_t
enum PageRetirementCause : int { kMultipleSingleBit = 0, kDoubleBit = 1 };  // nvmlPageRetirementCause_t

// nvmlClocksEventReason* (formerly nvmlClocksThrottleReason*): bits of the reasons mask.
inline constexpr std::uint64_t kReasonGpuIdle = 0x1;
inline constexpr std::uint64_t kReasonApplicationsClocksSetting = 0x2;
inline constexpr std::uint64_t kReasonSwPowerCap = 0x4;
inline constexpr std::uint64_t kReasonHwSlowdown = 0x8;
inline constexpr std::uint64_t kReasonSyncBoost = 0x10;
inline constexpr std::uint64_t kReasonSwThermalSlowdown = 0x20;
inline constexpr std::uint64_t kReasonHwThermalSlowdown = 0x40;
inline constexpr std::uint64_t kReasonHwPowerBrakeSlowdown = 0x80;
inline constexpr std::uint64_t kReasonDisplayClockSetting = 0x100;

// The functions used. Every pointer but init, shutdown and handle_by_uuid may be null (an old
// driver without the function): what it would read is then NaN.
struct Api {
  Return (*init)() = nullptr;                                                 // nvmlInit_v2
  Return (*shutdown)() = nullptr;                                             // nvmlShutdown
  const char* (*error_string)(Return) = nullptr;                              // nvmlErrorString
  Return (*driver_version)(char*, unsigned int) = nullptr;                    // nvmlSystemGetDriverVersion
  Return (*handle_by_uuid)(const char*, Device*) = nullptr;                   // nvmlDeviceGetHandleByUUID
  Return (*power_usage)(Device, unsigned int*) = nullptr;                     // nvmlDeviceGetPowerUsage (mW)
  Return (*clock_info)(Device, ClockType, unsigned int*) = nullptr;           // nvmlDeviceGetClockInfo (MHz)
  Return (*temperature)(Device, TemperatureSensor, unsigned int*) = nullptr;  // nvmlDeviceGetTemperature (C)
  // nvmlDeviceGetCurrentClocksEventReasons, or the older nvmlDeviceGetCurrentClocksThrottleReasons.
  Return (*clock_event_reasons)(Device, unsigned long long*) = nullptr;
  Return (*total_ecc_errors)(Device, MemoryErrorType, EccCounterType,
                             unsigned long long*) = nullptr;  // nvmlDeviceGetTotalEccErrors
  Return (*remapped_rows)(Device, unsigned int*, unsigned int*, unsigned int*,
                          unsigned int*) = nullptr;  // nvmlDeviceGetRemappedRows
  Return (*retired_pages)(Device, PageRetirementCause, unsigned int*,
                          unsigned long long*) = nullptr;  // nvmlDeviceGetRetiredPages
};

}  // namespace nvml

// --- decoding (no NVML needed) -------------------------------------------------------------

// The reasons that mean the GPU is slowed down against its will: hardware slowdown, thermal
// slowdown (software and hardware) and the power brake. Idle, application clocks, the software
// power cap (the normal limiter of a GPU at full load) and sync boost are not.
inline constexpr std::uint64_t kSlowdownReasons = nvml::kReasonHwSlowdown | nvml::kReasonSwThermalSlowdown |
                                                  nvml::kReasonHwThermalSlowdown |
                                                  nvml::kReasonHwPowerBrakeSlowdown;

// The names of the set bits, lowest first, as nvidia-smi's "Clocks Event Reasons" spell them in
// snake case ("sw_power_cap", "hw_thermal_slowdown"); an undocumented bit is named by its value
// ("0x200"). An empty mask gives no names.
std::vector<std::string> clock_event_reason_names(std::uint64_t mask);
// The names joined with '+', or "none" for an empty mask.
std::string describe_clock_event_reasons(std::uint64_t mask);
// "NVML_ERROR_NOT_SUPPORTED" for 3, "NVML_SUCCESS" for 0, "NVML error 12345" for anything unknown.
std::string nvml_error_name(nvml::Return code);

inline constexpr double kNoReading = std::numeric_limits<double>::quiet_NaN();

// One reading of one GPU; NaN (kNoReading) for what was not read.
struct TelemetrySample {
  double time = 0;              // seconds since the start of the measurement
  double power_w = kNoReading;  // board power
  double sm_clock_mhz = kNoReading;
  double mem_clock_mhz = kNoReading;
  double temperature_c = kNoReading;     // GPU die
  std::optional<std::uint64_t> reasons;  // clock event reasons mask
  double ecc_corrected = kNoReading;     // volatile counts: since the driver was loaded
  double ecc_uncorrected = kNoReading;
  double remapped_rows_corrected = kNoReading;  // Ampere and later
  double remapped_rows_uncorrected = kNoReading;
  double remap_pending = kNoReading;  // 1 when a remapping waits for a GPU reset
  double remap_failed = kNoReading;   // 1 when a remapping ever failed
  double retired_pages = kNoReading;  // before Ampere: pages retired (single- and double-bit)
};

// What a series of readings says, for per-rank metrics. NaN where no sample had the quantity.
struct TelemetrySummary {
  std::size_t samples = 0;
  double power_mean_w = kNoReading;
  double power_max_w = kNoReading;
  double temperature_max_c = kNoReading;
  double sm_clock_mean_mhz = kNoReading;
  double sm_clock_min_mhz = kNoReading;
  double mem_clock_mean_mhz = kNoReading;
  std::optional<std::uint64_t> reasons_seen;  // union of every sample's reasons
  double slowdown_fraction = kNoReading;      // share of samples with a kSlowdownReasons bit
  double ecc_corrected_delta = kNoReading;    // last reading - first reading
  double ecc_uncorrected_delta = kNoReading;
  double remapped_rows = kNoReading;  // corrected + uncorrected, at the last reading
  double remap_pending = kNoReading;  // 1 when pending or failed at the last reading
  double retired_pages = kNoReading;  // at the last reading
};
TelemetrySummary summarize_telemetry(const std::vector<TelemetrySample>& samples);

// --- reading -------------------------------------------------------------------------------

// The NVML view of one GPU. Never throws: without NVML, or when NVML does not know the GPU,
// available() is false and why_absent() says why. Move-only; the last owner shuts NVML down
// and unloads the library.
class GpuTelemetry {
 public:
  // Loads `library` and opens the GPU with this UUID ("GPU-..." as CUDA and nvidia-smi print it;
  // UUIDs, unlike indices, mean the same GPU whatever CUDA_VISIBLE_DEVICES says).
  static GpuTelemetry open(const std::string& uuid, const char* library = kNvmlLibrary);
  // Over a given function table (tests; a library loaded some other way).
  static GpuTelemetry open_with(const nvml::Api& api, const std::string& uuid);
  // Telemetry that is absent for a stated reason (e.g. the cpu backend).
  static GpuTelemetry absent(std::string why);

  GpuTelemetry(GpuTelemetry&&) noexcept;
  GpuTelemetry& operator=(GpuTelemetry&&) noexcept;
  ~GpuTelemetry();

  bool available() const { return device_ != nullptr; }
  const std::string& why_absent() const { return why_; }
  const std::string& driver_version() const { return driver_; }
  // Reads every quantity now; `time` is stored in the sample as given. Never throws.
  TelemetrySample read(double time);
  // The first failure of each quantity ("power: NVML_ERROR_NO_PERMISSION (...)"), in order.
  const std::vector<std::string>& notes() const { return notes_; }

 private:
  struct Library;
  GpuTelemetry() = default;
  void note(std::string_view quantity, nvml::Return code);
  std::string error_text(nvml::Return code) const;

  std::shared_ptr<Library> library_;
  nvml::Device device_ = nullptr;
  std::string why_;
  std::string driver_;
  std::vector<std::string> notes_;
  std::uint32_t noted_ = 0;  // bit per quantity already noted
};

}  // namespace gpuaccept::kernels
