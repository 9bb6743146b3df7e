#include "kernels/telemetry.hpp"

#include <dlfcn.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <utility>

namespace gpuaccept::kernels {

namespace {

struct ReasonName {
  std::uint64_t bit;
  const char* name;
};

// nvml.h's nvmlClocksEventReason* bits, named as nvidia-smi -q names them.
constexpr std::array<ReasonName, 9> kReasonNames{{
    {nvml::kReasonGpuIdle, "gpu_idle"},
    {nvml::kReasonApplicationsClocksSetting, "applications_clocks_setting"},
    {nvml::kReasonSwPowerCap, "sw_power_cap"},
    {nvml::kReasonHwSlowdown, "hw_slowdown"},
    {nvml::kReasonSyncBoost, "sync_boost"},
    {nvml::kReasonSwThermalSlowdown, "sw_thermal_slowdown"},
    {nvml::kReasonHwThermalSlowdown, "hw_thermal_slowdown"},
    {nvml::kReasonHwPowerBrakeSlowdown, "hw_power_brake_slowdown"},
    {nvml::kReasonDisplayClockSetting, "display_clock_setting"},
}};

// nvmlReturn_t values, as nvml.h names them.
constexpr std::array<const char*, 30> kErrorNames{
    "NVML_SUCCESS",
    "NVML_ERROR_UNINITIALIZED",
    "NVML_ERROR_INVALID_ARGUMENT",
    "NVML_ERROR_NOT_SUPPORTED",
    "NVML_ERROR_NO_PERMISSION",
    "NVML_ERROR_ALREADY_INITIALIZED",
    "NVML_ERROR_NOT_FOUND",
    "NVML_ERROR_INSUFFICIENT_SIZE",
    "NVML_ERROR_INSUFFICIENT_POWER",
    "NVML_ERROR_DRIVER_NOT_LOADED",
    "NVML_ERROR_TIMEOUT",
    "NVML_ERROR_IRQ_ISSUE",
    "NVML_ERROR_LIBRARY_NOT_FOUND",
    "NVML_ERROR_FUNCTION_NOT_FOUND",
    "NVML_ERROR_CORRUPTED_INFOROM",
    "NVML_ERROR_GPU_IS_LOST",
    "NVML_ERROR_RESET_REQUIRED",
    "NVML_ERROR_OPERATING_SYSTEM",
    "NVML_ERROR_LIB_RM_VERSION_MISMATCH",
    "NVML_ERROR_IN_USE",
    "NVML_ERROR_MEMORY",
    "NVML_ERROR_NO_DATA",
    "NVML_ERROR_VGPU_ECC_NOT_SUPPORTED",
    "NVML_ERROR_INSUFFICIENT_RESOURCES",
    "NVML_ERROR_FREQ_NOT_SUPPORTED",
    "NVML_ERROR_ARGUMENT_VERSION_MISMATCH",
    "NVML_ERROR_DEPRECATED",
    "NVML_ERROR_NOT_READY",
    "NVML_ERROR_GPU_NOT_FOUND",
    "NVML_ERROR_INVALID_STATE",
};
constexpr nvml::Return kErrorUnknown = 999;  // NVML_ERROR_UNKNOWN

// The quantities read, for notes (one bit each in GpuTelemetry::noted_).
enum Quantity : std::uint32_t { kPower, kSmClock, kMemClock, kTemperature, kReasons, kEcc, kRemap, kRetired };
constexpr std::array<const char*, 8> kQuantityNames{
    "power",        "SM clock",      "memory clock", "temperature", "clock event reasons",
    "ECC counters", "remapped rows", "retired pages"};

// Mean, min and max over the non-NaN values of one field.
struct Reduced {
  double mean = kNoReading, min = kNoReading, max = kNoReading;
  std::size_t count = 0;
};

template <typename Get>
Reduced reduce(const std::vector<TelemetrySample>& samples, Get get) {
  Reduced r;
  double sum = 0;
  for (const auto& s : samples) {
    const double v = get(s);
    if (std::isnan(v)) continue;
    sum += v;
    r.min = r.count == 0 ? v : std::min(r.min, v);
    r.max = r.count == 0 ? v : std::max(r.max, v);
    ++r.count;
  }
  if (r.count > 0) r.mean = sum / static_cast<double>(r.count);
  return r;
}

// The first and the last non-NaN value of one field.
template <typename Get>
std::pair<double, double> first_last(const std::vector<TelemetrySample>& samples, Get get) {
  double first = kNoReading, last = kNoReading;
  for (const auto& s : samples) {
    const double v = get(s);
    if (std::isnan(v)) continue;
    if (std::isnan(first)) first = v;
    last = v;
  }
  return {first, last};
}

// dlsym into a typed function pointer; null when the library lacks the symbol.
template <typename Fn>
void resolve(void* handle, const char* name, Fn& out) {
  void* symbol = dlsym(handle, name);
  out = reinterpret_cast<Fn>(symbol);
}

}  // namespace

std::vector<std::string> clock_event_reason_names(std::uint64_t mask) {
  std::vector<std::string> names;
  std::uint64_t known = 0;
  for (const auto& r : kReasonNames) {
    known |= r.bit;
    if (mask & r.bit) names.emplace_back(r.name);
  }
  for (int bit = 0; bit < 64; ++bit) {
    const std::uint64_t value = std::uint64_t{1} << bit;
    if ((mask & value) && !(known & value)) names.push_back(fmt::format("{:#x}", value));
  }
  return names;
}

std::string describe_clock_event_reasons(std::uint64_t mask) {
  const auto names = clock_event_reason_names(mask);
  if (names.empty()) return "none";
  std::string text;
  for (const auto& n : names) text += (text.empty() ? "" : "+") + n;
  return text;
}

std::string nvml_error_name(nvml::Return code) {
  if (code >= 0 && static_cast<std::size_t>(code) < kErrorNames.size())
    return kErrorNames[static_cast<std::size_t>(code)];
  if (code == kErrorUnknown) return "NVML_ERROR_UNKNOWN";
  return fmt::format("NVML error {}", code);
}

TelemetrySummary summarize_telemetry(const std::vector<TelemetrySample>& samples) {
  TelemetrySummary s;
  s.samples = samples.size();
  const auto power = reduce(samples, [](const TelemetrySample& t) { return t.power_w; });
  s.power_mean_w = power.mean;
  s.power_max_w = power.max;
  s.temperature_max_c = reduce(samples, [](const TelemetrySample& t) { return t.temperature_c; }).max;
  const auto sm = reduce(samples, [](const TelemetrySample& t) { return t.sm_clock_mhz; });
  s.sm_clock_mean_mhz = sm.mean;
  s.sm_clock_min_mhz = sm.min;
  s.mem_clock_mean_mhz = reduce(samples, [](const TelemetrySample& t) { return t.mem_clock_mhz; }).mean;

  std::size_t with_reasons = 0, slowed = 0;
  for (const auto& t : samples) {
    if (!t.reasons) continue;
    s.reasons_seen = s.reasons_seen.value_or(0) | *t.reasons;
    ++with_reasons;
    slowed += (*t.reasons & kSlowdownReasons) ? 1 : 0;
  }
  if (with_reasons > 0) s.slowdown_fraction = static_cast<double>(slowed) / static_cast<double>(with_reasons);

  const auto corrected = first_last(samples, [](const TelemetrySample& t) { return t.ecc_corrected; });
  const auto uncorrected = first_last(samples, [](const TelemetrySample& t) { return t.ecc_uncorrected; });
  s.ecc_corrected_delta = corrected.second - corrected.first;
  s.ecc_uncorrected_delta = uncorrected.second - uncorrected.first;
  const auto rows_c = first_last(samples, [](const TelemetrySample& t) { return t.remapped_rows_corrected; });
  const auto rows_u =
      first_last(samples, [](const TelemetrySample& t) { return t.remapped_rows_uncorrected; });
  s.remapped_rows = rows_c.second + rows_u.second;
  const auto pending = first_last(samples, [](const TelemetrySample& t) { return t.remap_pending; });
  const auto failed = first_last(samples, [](const TelemetrySample& t) { return t.remap_failed; });
  if (!std::isnan(pending.second) || !std::isnan(failed.second))
    s.remap_pending = (pending.second > 0 || failed.second > 0) ? 1.0 : 0.0;
  s.retired_pages = first_last(samples, [](const TelemetrySample& t) { return t.retired_pages; }).second;
  return s;
}

// --- reading -------------------------------------------------------------------------------

struct GpuTelemetry::Library {
  void* handle = nullptr;  // dlopen's, or null for a given table
  nvml::Api api;
  bool initialised = false;

  Library() = default;
  Library(const Library&) = delete;
  Library& operator=(const Library&) = delete;
  ~Library() {
    if (initialised && api.shutdown) (void)api.shutdown();
    if (handle) (void)dlclose(handle);
  }
};

GpuTelemetry::GpuTelemetry(GpuTelemetry&&) noexcept = default;
GpuTelemetry& GpuTelemetry::operator=(GpuTelemetry&&) noexcept = default;
GpuTelemetry::~GpuTelemetry() = default;

GpuTelemetry GpuTelemetry::absent(std::string why) {
  GpuTelemetry t;
  t.why_ = std::move(why);
  return t;
}

GpuTelemetry GpuTelemetry::open(const std::string& uuid, const char* library) {
  void* handle = dlopen(library, RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* error = dlerror();
    return absent(fmt::format("NVML is not available ({} could not be loaded: {})", library,
                              error ? error : "unknown reason"));
  }
  nvml::Api api;
  resolve(handle, "nvmlInit_v2", api.init);
  resolve(handle, "nvmlShutdown", api.shutdown);
  resolve(handle, "nvmlErrorString", api.error_string);
  resolve(handle, "nvmlSystemGetDriverVersion", api.driver_version);
  resolve(handle, "nvmlDeviceGetHandleByUUID", api.handle_by_uuid);
  resolve(handle, "nvmlDeviceGetPowerUsage", api.power_usage);
  resolve(handle, "nvmlDeviceGetClockInfo", api.clock_info);
  resolve(handle, "nvmlDeviceGetTemperature", api.temperature);
  resolve(handle, "nvmlDeviceGetCurrentClocksEventReasons", api.clock_event_reasons);
  if (!api.clock_event_reasons)
    resolve(handle, "nvmlDeviceGetCurrentClocksThrottleReasons", api.clock_event_reasons);
  resolve(handle, "nvmlDeviceGetTotalEccErrors", api.total_ecc_errors);
  resolve(handle, "nvmlDeviceGetRemappedRows", api.remapped_rows);
  resolve(handle, "nvmlDeviceGetRetiredPages", api.retired_pages);
  if (!api.init || !api.shutdown || !api.handle_by_uuid) {
    (void)dlclose(handle);
    return absent(fmt::format(
        "NVML is not usable ({} lacks nvmlInit_v2, nvmlShutdown or nvmlDeviceGetHandleByUUID)", library));
  }
  GpuTelemetry t = open_with(api, uuid);
  if (t.library_)
    t.library_->handle = handle;
  else
    (void)dlclose(handle);
  return t;
}

GpuTelemetry GpuTelemetry::open_with(const nvml::Api& api, const std::string& uuid) {
  GpuTelemetry t;
  if (!api.init || !api.handle_by_uuid) {
    t.why_ = "NVML is not usable (no nvmlInit_v2 or nvmlDeviceGetHandleByUUID)";
    return t;
  }
  auto library = std::make_shared<Library>();
  library->api = api;
  t.library_ = library;
  if (const nvml::Return rc = api.init(); rc != nvml::kSuccess) {
    t.why_ = fmt::format("NVML could not start: nvmlInit_v2 returned {}", t.error_text(rc));
    t.library_.reset();  // nothing to shut down
    return t;
  }
  library->initialised = true;
  if (api.driver_version) {
    std::array<char, 96> version{};
    if (api.driver_version(version.data(), static_cast<unsigned int>(version.size())) == nvml::kSuccess)
      t.driver_ = std::string(version.data());
  }
  if (uuid.empty()) {
    t.why_ = "NVML is loaded, but the GPU's UUID is unknown";
    return t;
  }
  nvml::Device device = nullptr;
  if (const nvml::Return rc = api.handle_by_uuid(uuid.c_str(), &device); rc != nvml::kSuccess || !device) {
    t.why_ = fmt::format("NVML does not know GPU {}: nvmlDeviceGetHandleByUUID returned {}", uuid,
                         t.error_text(rc));
    return t;
  }
  t.device_ = device;
  return t;
}

std::string GpuTelemetry::error_text(nvml::Return code) const {
  const char* text = library_ && library_->api.error_string ? library_->api.error_string(code) : nullptr;
  return text ? fmt::format("{} ({})", nvml_error_name(code), text) : nvml_error_name(code);
}

void GpuTelemetry::note(std::string_view quantity, nvml::Return code) {
  std::uint32_t bit = 0;
  for (std::size_t q = 0; q < kQuantityNames.size(); ++q)
    if (quantity == kQuantityNames[q]) bit = 1u << q;
  if (noted_ & bit) return;
  noted_ |= bit;
  notes_.push_back(fmt::format("{}: {}", quantity, error_text(code)));
}

TelemetrySample GpuTelemetry::read(double time) {
  TelemetrySample s;
  s.time = time;
  if (!available()) return s;
  const nvml::Api& api = library_->api;
  const auto reading = [&](Quantity q, nvml::Return rc) {
    if (rc == nvml::kSuccess) return true;
    note(kQuantityNames[q], rc);
    return false;
  };
  unsigned int value = 0;
  if (api.power_usage && reading(kPower, api.power_usage(device_, &value))) s.power_w = value / 1000.0;
  if (api.clock_info && reading(kSmClock, api.clock_info(device_, nvml::kClockSm, &value)))
    s.sm_clock_mhz = value;
  if (api.clock_info && reading(kMemClock, api.clock_info(device_, nvml::kClockMem, &value)))
    s.mem_clock_mhz = value;
  if (api.temperature && reading(kTemperature, api.temperature(device_, nvml::kTemperatureGpu, &value)))
    s.temperature_c = value;
  unsigned long long mask = 0;
  if (api.clock_event_reasons && reading(kReasons, api.clock_event_reasons(device_, &mask))) s.reasons = mask;
  if (api.total_ecc_errors) {
    unsigned long long corrected = 0, uncorrected = 0;
    if (reading(kEcc, api.total_ecc_errors(device_, nvml::kCorrected, nvml::kVolatileEcc, &corrected)) &&
        reading(kEcc, api.total_ecc_errors(device_, nvml::kUncorrected, nvml::kVolatileEcc, &uncorrected))) {
      s.ecc_corrected = static_cast<double>(corrected);
      s.ecc_uncorrected = static_cast<double>(uncorrected);
    }
  }
  if (api.remapped_rows) {
    unsigned int corrected = 0, uncorrected = 0, pending = 0, failed = 0;
    if (reading(kRemap, api.remapped_rows(device_, &corrected, &uncorrected, &pending, &failed))) {
      s.remapped_rows_corrected = corrected;
      s.remapped_rows_uncorrected = uncorrected;
      s.remap_pending = pending ? 1.0 : 0.0;
      s.remap_failed = failed ? 1.0 : 0.0;
    }
  }
  if (api.retired_pages) {
    // pageCount 0 asks for the count only; NVML answers NVML_ERROR_INSUFFICIENT_SIZE with the
    // count set when there are pages. The address buffer is never written at size 0.
    double pages = 0;
    bool ok = true;
    for (const auto cause : {nvml::kMultipleSingleBit, nvml::kDoubleBit}) {
      unsigned int count = 0;
      unsigned long long unused = 0;
      const nvml::Return rc = api.retired_pages(device_, cause, &count, &unused);
      if (rc == nvml::kSuccess || rc == nvml::kErrorInsufficientSize) {
        pages += count;
      } else {
        ok = false;
        note(kQuantityNames[kRetired], rc);
        break;
      }
    }
    if (ok) s.retired_pages = pages;
  }
  return s;
}

}  // namespace gpuaccept::kernels
