// Telemetry without NVML: the decoding layer, the absent library, and the reading layer over a
// fake NVML function table.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>

#include "kernels/telemetry.hpp"

using namespace gpuaccept::kernels;

TEST(Telemetry, ClockEventReasonsDecodeToTheirNames) {
  EXPECT_TRUE(clock_event_reason_names(0).empty());
  EXPECT_EQ(describe_clock_event_reasons(0), "none");
  EXPECT_EQ(describe_clock_event_reasons(0x4), "sw_power_cap");
  // nvml.h: SwPowerCap 0x4, HwThermalSlowdown 0x40.
  EXPECT_EQ(describe_clock_event_reasons(0x44), "sw_power_cap+hw_thermal_slowdown");
  const auto all = clock_event_reason_names(0x1FF);
  const std::vector<std::string> expected{"gpu_idle",
                                          "applications_clocks_setting",
                                          "sw_power_cap",
                                          "hw_slowdown",
                                          "sync_boost",
                                          "sw_thermal_slowdown",
                                          "hw_thermal_slowdown",
                                          "hw_power_brake_slowdown",
                                          "display_clock_setting"};
  EXPECT_EQ(all, expected);
  // Bits NVML may add later are kept, by value, not dropped.
  EXPECT_EQ(describe_clock_event_reasons(0x8 | 0x200 | (std::uint64_t{1} << 40)),
            "hw_slowdown+0x200+0x10000000000");
}

TEST(Telemetry, SlowdownReasonsAreTheInvoluntaryOnes) {
  EXPECT_EQ(kSlowdownReasons, 0x8u | 0x20u | 0x40u | 0x80u);
  EXPECT_FALSE(kSlowdownReasons & nvml::kReasonSwPowerCap);  // the normal limiter at full load
  EXPECT_FALSE(kSlowdownReasons & nvml::kReasonGpuIdle);
}

TEST(Telemetry, NvmlErrorCodesAreNamedAsInNvmlH) {
  EXPECT_EQ(nvml_error_name(0), "NVML_SUCCESS");
  EXPECT_EQ(nvml_error_name(3), "NVML_ERROR_NOT_SUPPORTED");
  EXPECT_EQ(nvml_error_name(4), "NVML_ERROR_NO_PERMISSION");
  EXPECT_EQ(nvml_error_name(9), "NVML_ERROR_DRIVER_NOT_LOADED");
  EXPECT_EQ(nvml_error_name(15), "NVML_ERROR_GPU_IS_LOST");
  EXPECT_EQ(nvml_error_name(29), "NVML_ERROR_INVALID_STATE");
  EXPECT_EQ(nvml_error_name(999), "NVML_ERROR_UNKNOWN");
  EXPECT_EQ(nvml_error_name(12345), "NVML error 12345");
  EXPECT_EQ(nvml_error_name(-1), "NVML error -1");
}

TEST(Telemetry, AMissingLibraryMeansAbsentNotAnError) {
  GpuTelemetry t =
      GpuTelemetry::open("GPU-00000000-0000-0000-0000-000000000000", "libnvidia-ml-not-here.so.1");
  EXPECT_FALSE(t.available());
  EXPECT_NE(t.why_absent().find("libnvidia-ml-not-here.so.1"), std::string::npos) << t.why_absent();
  const TelemetrySample s = t.read(2.5);
  EXPECT_EQ(s.time, 2.5);
  EXPECT_TRUE(std::isnan(s.power_w));
  EXPECT_FALSE(s.reasons.has_value());
  EXPECT_TRUE(t.notes().empty());
}

TEST(Telemetry, TheRealLibraryIsAbsentHereOrUsable) {
  GpuTelemetry t = GpuTelemetry::open("GPU-00000000-0000-0000-0000-000000000000");
  if (!t.available()) {
    // No driver (this machine), or a driver that does not know this made-up UUID.
    EXPECT_FALSE(t.why_absent().empty());
  } else {
    ADD_FAILURE() << "a made-up UUID cannot name a real GPU";
  }
}

namespace {

// A fake NVML: what it returns, and what it was asked.
struct Fake {
  nvml::Return init_rc = nvml::kSuccess;
  nvml::Return handle_rc = nvml::kSuccess;
  nvml::Return power_rc = nvml::kSuccess;
  nvml::Return retired_rc = nvml::kErrorNotSupported;
  unsigned power_mw = 312456;
  std::string asked_uuid;
  int clock_types_asked = 0;  // bit per nvmlClockType_t value asked
  int inits = 0, shutdowns = 0, power_reads = 0;
};
Fake fake;
nvml::DeviceOpaque* const kDevice = reinterpret_cast<nvml::DeviceOpaque*>(0x1234);

nvml::Return fake_init() {
  ++fake.inits;
  return fake.init_rc;
}
nvml::Return fake_shutdown() {
  ++fake.shutdowns;
  return nvml::kSuccess;
}
const char* fake_error_string(nvml::Return rc) {
  return rc == nvml::kErrorNotSupported ? "Not Supported" : "fake";
}
nvml::Return fake_driver(char* text, unsigned length) {
  std::strncpy(text, "550.54.15", length);
  return nvml::kSuccess;
}
nvml::Return fake_handle(const char* uuid, nvml::Device* device) {
  fake.asked_uuid = uuid;
  *device = kDevice;
  return fake.handle_rc;
}
nvml::Return fake_power(nvml::Device d, unsigned* mw) {
  ++fake.power_reads;
  if (d != kDevice) return 2;
  *mw = fake.power_mw;
  return fake.power_rc;
}
nvml::Return fake_clock(nvml::Device, nvml::ClockType type, unsigned* mhz) {
  fake.clock_types_asked |= 1 << type;
  *mhz = type == nvml::kClockSm ? 1980 : type == nvml::kClockMem ? 2619 : 1;
  return nvml::kSuccess;
}
nvml::Return fake_temperature(nvml::Device, nvml::TemperatureSensor sensor, unsigned* c) {
  *c = sensor == nvml::kTemperatureGpu ? 71 : 0;
  return nvml::kSuccess;
}
nvml::Return fake_reasons(nvml::Device, unsigned long long* mask) {
  *mask = nvml::kReasonSwPowerCap | nvml::kReasonHwThermalSlowdown;
  return nvml::kSuccess;
}
nvml::Return fake_ecc(nvml::Device, nvml::MemoryErrorType type, nvml::EccCounterType counter,
                      unsigned long long* n) {
  if (counter != nvml::kVolatileEcc) return 2;
  *n = type == nvml::kCorrected ? 3 : 0;
  return nvml::kSuccess;
}
nvml::Return fake_remapped(nvml::Device, unsigned* corrected, unsigned* uncorrected, unsigned* pending,
                           unsigned* failed) {
  *corrected = 2;
  *uncorrected = 1;
  *pending = 1;
  *failed = 0;
  return nvml::kSuccess;
}
nvml::Return fake_retired(nvml::Device, nvml::PageRetirementCause, unsigned* count, unsigned long long*) {
  *count = 4;
  return fake.retired_rc;
}

nvml::Api fake_api() {
  nvml::Api api;
  api.init = fake_init;
  api.shutdown = fake_shutdown;
  api.error_string = fake_error_string;
  api.driver_version = fake_driver;
  api.handle_by_uuid = fake_handle;
  api.power_usage = fake_power;
  api.clock_info = fake_clock;
  api.temperature = fake_temperature;
  api.clock_event_reasons = fake_reasons;
  api.total_ecc_errors = fake_ecc;
  api.remapped_rows = fake_remapped;
  api.retired_pages = fake_retired;
  return api;
}

}  // namespace

TEST(Telemetry, ReadsEveryQuantityThroughTheFunctionTable) {
  fake = Fake{};
  {
    GpuTelemetry t = GpuTelemetry::open_with(fake_api(), "GPU-abc");
    ASSERT_TRUE(t.available()) << t.why_absent();
    EXPECT_EQ(fake.asked_uuid, "GPU-abc");
    EXPECT_EQ(t.driver_version(), "550.54.15");
    const TelemetrySample s = t.read(7);
    EXPECT_EQ(s.time, 7);
    EXPECT_DOUBLE_EQ(s.power_w, 312.456);  // milliwatts to watts
    EXPECT_EQ(s.sm_clock_mhz, 1980);
    EXPECT_EQ(s.mem_clock_mhz, 2619);
    EXPECT_EQ(fake.clock_types_asked, (1 << 1) | (1 << 2));  // NVML_CLOCK_SM = 1, NVML_CLOCK_MEM = 2
    EXPECT_EQ(s.temperature_c, 71);
    ASSERT_TRUE(s.reasons.has_value());
    EXPECT_EQ(*s.reasons, 0x44u);
    EXPECT_EQ(s.ecc_corrected, 3);
    EXPECT_EQ(s.ecc_uncorrected, 0);
    EXPECT_EQ(s.remapped_rows_corrected, 2);
    EXPECT_EQ(s.remapped_rows_uncorrected, 1);
    EXPECT_EQ(s.remap_pending, 1);
    EXPECT_EQ(s.remap_failed, 0);
    EXPECT_TRUE(std::isnan(s.retired_pages));  // NOT_SUPPORTED: absent, and noted once
    ASSERT_EQ(t.notes().size(), 1u);
    EXPECT_EQ(t.notes()[0], "retired pages: NVML_ERROR_NOT_SUPPORTED (Not Supported)");
    (void)t.read(8);
    EXPECT_EQ(t.notes().size(), 1u);
    EXPECT_EQ(fake.shutdowns, 0);
  }
  EXPECT_EQ(fake.inits, 1);
  EXPECT_EQ(fake.shutdowns, 1);  // the last owner shuts NVML down
}

TEST(Telemetry, RetiredPagesCountComesBackWithInsufficientSize) {
  fake = Fake{};
  fake.retired_rc = nvml::kErrorInsufficientSize;  // pages exist, the zero-sized buffer is too small
  GpuTelemetry t = GpuTelemetry::open_with(fake_api(), "GPU-abc");
  EXPECT_EQ(t.read(0).retired_pages, 8);  // 4 per cause, two causes
}

TEST(Telemetry, AFailingQuantityIsNaNAndTheRestIsRead) {
  fake = Fake{};
  fake.power_rc = 4;  // NVML_ERROR_NO_PERMISSION
  GpuTelemetry t = GpuTelemetry::open_with(fake_api(), "GPU-abc");
  const TelemetrySample s = t.read(1);
  EXPECT_TRUE(std::isnan(s.power_w));
  EXPECT_EQ(s.sm_clock_mhz, 1980);
  EXPECT_EQ(t.notes().front(), "power: NVML_ERROR_NO_PERMISSION (fake)");
}

TEST(Telemetry, AnUnknownGpuOrAFailedInitIsAbsentWithTheReason) {
  fake = Fake{};
  fake.handle_rc = nvml::kErrorNotFound;
  {
    GpuTelemetry t = GpuTelemetry::open_with(fake_api(), "GPU-gone");
    EXPECT_FALSE(t.available());
    EXPECT_NE(t.why_absent().find("GPU-gone"), std::string::npos);
    EXPECT_NE(t.why_absent().find("NVML_ERROR_NOT_FOUND"), std::string::npos) << t.why_absent();
    EXPECT_EQ(fake.power_reads, 0);
    (void)t.read(0);
    EXPECT_EQ(fake.power_reads, 0);
  }
  EXPECT_EQ(fake.shutdowns, 1);

  fake = Fake{};
  fake.init_rc = 9;  // NVML_ERROR_DRIVER_NOT_LOADED
  {
    GpuTelemetry t = GpuTelemetry::open_with(fake_api(), "GPU-abc");
    EXPECT_FALSE(t.available());
    EXPECT_NE(t.why_absent().find("nvmlInit_v2 returned NVML_ERROR_DRIVER_NOT_LOADED"), std::string::npos)
        << t.why_absent();
  }
  EXPECT_EQ(fake.shutdowns, 0);  // never started, so never shut down

  nvml::Api empty;
  EXPECT_FALSE(GpuTelemetry::open_with(empty, "GPU-abc").available());
}

TEST(Telemetry, SummaryOfASeries) {
  std::vector<TelemetrySample> s(4);
  s[0].power_w = 300;
  s[2].power_w = 350;
  s[3].power_w = 340;
  for (std::size_t i = 0; i < 4; ++i) {
    s[i].temperature_c = 60 + static_cast<double>(i);
    s[i].sm_clock_mhz = i == 2 ? 1500 : 1980;
    s[i].ecc_corrected = 5 + static_cast<double>(i);
    s[i].ecc_uncorrected = i == 3 ? 1 : 0;
  }
  s[0].reasons = nvml::kReasonSwPowerCap;
  s[1].reasons = nvml::kReasonSwPowerCap | nvml::kReasonHwThermalSlowdown;
  s[2].reasons = nvml::kReasonHwSlowdown;
  // s[3] without reasons: it does not count for the fraction
  s[3].remapped_rows_corrected = 2;
  s[3].remapped_rows_uncorrected = 1;
  s[3].remap_pending = 0;
  s[3].remap_failed = 1;

  const TelemetrySummary t = summarize_telemetry(s);
  EXPECT_EQ(t.samples, 4u);
  EXPECT_DOUBLE_EQ(t.power_mean_w, (300 + 350 + 340) / 3.0);  // the NaN is left out
  EXPECT_EQ(t.power_max_w, 350);
  EXPECT_EQ(t.temperature_max_c, 63);
  EXPECT_EQ(t.sm_clock_min_mhz, 1500);
  EXPECT_DOUBLE_EQ(t.sm_clock_mean_mhz, (3 * 1980 + 1500) / 4.0);
  EXPECT_TRUE(std::isnan(t.mem_clock_mean_mhz));
  ASSERT_TRUE(t.reasons_seen.has_value());
  EXPECT_EQ(*t.reasons_seen, 0x4u | 0x40u | 0x8u);
  EXPECT_DOUBLE_EQ(t.slowdown_fraction, 2.0 / 3.0);
  EXPECT_EQ(t.ecc_corrected_delta, 3);
  EXPECT_EQ(t.ecc_uncorrected_delta, 1);
  EXPECT_EQ(t.remapped_rows, 3);
  EXPECT_EQ(t.remap_pending, 1);  // a failed remap counts
  EXPECT_TRUE(std::isnan(t.retired_pages));

  const TelemetrySummary none = summarize_telemetry({});
  EXPECT_EQ(none.samples, 0u);
  EXPECT_TRUE(std::isnan(none.power_mean_w));
  EXPECT_TRUE(std::isnan(none.slowdown_fraction));
  EXPECT_TRUE(std::isnan(none.ecc_uncorrected_delta));
  EXPECT_FALSE(none.reasons_seen.has_value());
}
