#include <gtest/gtest.h>

#include <cmath>

#include "kernels/stream.hpp"

using namespace gpuaccept::kernels;

TEST(Stream, BytesCountedAsStreamDoes) {
  EXPECT_DOUBLE_EQ(stream_bytes(StreamKernel::copy, 1000), 16000);
  EXPECT_DOUBLE_EQ(stream_bytes(StreamKernel::scale, 1000), 16000);
  EXPECT_DOUBLE_EQ(stream_bytes(StreamKernel::add, 1000), 24000);
  EXPECT_DOUBLE_EQ(stream_bytes(StreamKernel::triad, 1000), 24000);
}

TEST(Stream, ExpectedValuesFollowTheRecurrence) {
  // One pass from a=1, b=2, c=0: c=1, b=3, c=4, a=3+12=15.
  const auto one = stream_expected(1);
  EXPECT_DOUBLE_EQ(one[0], 15);
  EXPECT_DOUBLE_EQ(one[1], 3);
  EXPECT_DOUBLE_EQ(one[2], 4);
  const auto two = stream_expected(2);
  EXPECT_DOUBLE_EQ(two[0], 225);
  EXPECT_TRUE(std::isfinite(stream_expected(250)[0]));
}

TEST(Stream, CpuRunIsCheckedAndTimed) {
  StreamConfig c;
  c.elements = 100000;
  c.timing = {1, 3};
  c.threads = 2;
  const StreamRun r = run_stream(Backend::cpu, c);
  EXPECT_EQ(r.checked, 300000);
  EXPECT_EQ(r.wrong, 0) << r.first_wrong;
  for (const auto& t : r.seconds) {
    ASSERT_EQ(t.size(), 3u);
    for (double s : t) EXPECT_GT(s, 0);
  }
}

TEST(Stream, CheckFindsAPlantedWrongElement) {
  const int passes = 4;
  const auto e = stream_expected(passes);
  std::vector<double> a(64, e[0]), b(64, e[1]), c(64, e[2]);
  StreamRun ok;
  stream_check(a.data(), b.data(), c.data(), 64, passes, ok);
  EXPECT_EQ(ok.wrong, 0);
  b[17] = std::nextafter(b[17], 0.0) * (1 - 1e-12);  // a few ulps off: caught
  StreamRun bad;
  stream_check(a.data(), b.data(), c.data(), 64, passes, bad);
  EXPECT_EQ(bad.wrong, 1);
  EXPECT_NE(bad.first_wrong.find("b[17]"), std::string::npos);
}

// The session that gpuaccept-kernels uses: kernels in any order and number, each timed, and
// the check follows what ran (the expected values are tracked kernel by kernel).
TEST(StreamSession, AnyOrderOfKernelsIsCheckedAgainstWhatRan) {
  StreamConfig c;
  c.elements = 1000;
  c.threads = 2;
  const auto session = open_stream_session(Backend::cpu, c);
  for (StreamKernel k : {StreamKernel::triad, StreamKernel::triad, StreamKernel::scale, StreamKernel::add,
                         StreamKernel::copy, StreamKernel::triad})
    EXPECT_GT(session->run(k), 0);
  StreamRun r;
  session->verify(r);
  EXPECT_EQ(r.checked, 3000);
  EXPECT_EQ(r.wrong, 0) << r.first_wrong;
  // The tracker itself: triad from the initial values gives a = 2 + 3 * 0 = 2, then scale b = 3 c = 0.
  const auto after = stream_step(stream_step({1, 2, 0}, StreamKernel::triad), StreamKernel::scale);
  EXPECT_EQ(after, (std::array<double, 3>{2, 0, 0}));
  EXPECT_EQ(stream_expected(1), stream_step(stream_step(stream_step(stream_step({1, 2, 0}, StreamKernel::copy),
                                                                     StreamKernel::scale),
                                                         StreamKernel::add),
                                             StreamKernel::triad));
}
