// Reports: escaping in every format, the HTML page's structure and size at scale, JUnit and
// Markdown content, JSON read back, CSV quoting. (JUnit is also parsed back with Python's
// xml.etree, and the HTML loaded in headless Chromium, in tests/integration/test_results.py.)
#include <gtest/gtest.h>

#include <stdlib.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "results/report.hpp"
#include "results/store.hpp"
#include "results/svg.hpp"
#include "tests/unit/results/fixtures.hpp"

namespace gpuaccept {
namespace {

using testing::contract_of;
using testing::machine;
using testing::rank_step;
using testing::sweep_step;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }
std::size_t count(const std::string& text, const std::string& part) {
  std::size_t n = 0;
  for (std::size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

const std::string kEvil = "<script>alert('x')</script>&\"";

// A run with a hostile host name and benchmark parameter, a failing criterion and a sweep.
struct Fixture {
  RunInfo run = machine(4, 2);
  std::vector<StepResult> steps;
  Contract contract;
  Verdict verdict;
  ReportInput in;

  Fixture() {
    run.ranks[3].host = "node01" + kEvil;
    run.campaign = "camp<b>aign";
    std::vector<double> values(8, 800);
    values[3] = 500;
    steps.push_back(rank_step("gemm-aaaa", "gemm", {{"dtype", std::string("bf16")}, {"note", kEvil}}, "tflops", values));
    steps.push_back(sweep_step("ar-1", 8, 300));
    StepResult broken = rank_step("gemm-bbbb", "gemm", {{"dtype", std::string("fp8")}}, "tflops", {});
    broken.status = Status::timeout;
    broken.reason = "rank 2 " + kEvil + " passed the limit";
    steps.push_back(broken);
    contract = contract_of(R"(  - {id: every-gpu, description: "every GPU <fast>", benchmark: gemm, select: {dtype: bf16}, metric: tflops, bound: {min: 700}}
  - {id: bus, benchmark: allreduce, point: {bytes: 1M}, metric: busbw_oop, bound: {min: 360}}
  - {id: no-outlier, benchmark: gemm, select: {dtype: bf16}, metric: tflops, outliers: {ratio: 0.95}}
)");
    verdict = evaluate(contract, run, steps);
    in.results_path = "run.h5";
    in.run = &run;
    in.steps = &steps;
    in.verdict = &verdict;
    in.contract = &contract;
    in.contract_source = "contract.yaml";
  }
};

TEST(ResultsEscape, EveryFormat) {
  EXPECT_EQ(svg::escape("<a href='x'>&\"</a>"), "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;");
  EXPECT_EQ(svg::escape(std::string("a\x01" "b")), "a\xEF\xBF\xBD" "b");
  EXPECT_EQ(xml_escape("<x a=\"1\">'&'</x>"), "&lt;x a=&quot;1&quot;&gt;&apos;&amp;&apos;&lt;/x&gt;");
  EXPECT_EQ(xml_escape(std::string("bell\x07")), "bell\xEF\xBF\xBD");
  EXPECT_EQ(markdown_escape("a|b <i>*c*</i>\nd_e"), "a\\|b &lt;i&gt;\\*c\\*&lt;/i&gt; d\\_e");
}

TEST(ResultsEscape, NaturalOrderOfHosts) {
  EXPECT_TRUE(natural_less("node2", "node10"));
  EXPECT_FALSE(natural_less("node10", "node2"));
  EXPECT_TRUE(natural_less("node02", "node10"));
  EXPECT_TRUE(natural_less("rack1-n9", "rack2-n1"));
  EXPECT_TRUE(natural_less("a", "ab"));
  EXPECT_FALSE(natural_less("x7", "x7"));
}

TEST(ResultsSvg, TickLabels) {
  EXPECT_EQ(svg::tick_label(1048576, svg::AxisFormat::bytes), "1M");
  EXPECT_EQ(svg::tick_label(8589934592.0, svg::AxisFormat::bytes), "8G");
  EXPECT_EQ(svg::tick_label(512, svg::AxisFormat::bytes), "512");
  EXPECT_EQ(svg::tick_label(0.5, svg::AxisFormat::number), "0.5");
  EXPECT_EQ(svg::tick_label(2.5e7, svg::AxisFormat::number), "2.5e+07");
}

TEST(ResultsHtml, SelfContainedEscapedAndComplete) {
  Fixture f;
  std::ostringstream out;
  write_html(out, f.in);
  const std::string html = out.str();
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_TRUE(contains(html, "Content-Security-Policy")) << "scripts must be forbidden outright";
  EXPECT_TRUE(contains(html, "script-src 'none'"));
  // No script, no remote resource, no event handler: whatever the hosts are called.
  EXPECT_FALSE(contains(html, "<script"));
  EXPECT_EQ(count(html, "http://"), count(html, "xmlns=\"http://www.w3.org/2000/svg\""));
  EXPECT_EQ(count(html, "https://"), 0u);
  EXPECT_FALSE(contains(html, " onerror="));
  EXPECT_FALSE(contains(html, "<b>aign"));
  EXPECT_TRUE(contains(html, "camp&lt;b&gt;aign"));
  EXPECT_TRUE(contains(html, "node01&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"));
  EXPECT_TRUE(contains(html, "every GPU &lt;fast&gt;"));
  // The verdict, the evidence, the plots and the run's steps.
  EXPECT_TRUE(contains(html, "id=\"verdict-banner\">FAIL"));
  EXPECT_TRUE(contains(html, "id=\"c-every-gpu\""));
  EXPECT_TRUE(contains(html, "<td>rank 3</td><td>node01&lt;script&gt;alert(&#39;x&#39;)"));
  EXPECT_TRUE(contains(html, "Bus bandwidth against message size"));
  EXPECT_TRUE(contains(html, "bus: busbw_oop &gt;= 360"));  // the contract bound on the plot
  EXPECT_TRUE(contains(html, "Per-GPU distributions"));
  EXPECT_TRUE(contains(html, "Per-node heat map"));
  EXPECT_TRUE(contains(html, "Broken steps (1)"));
  EXPECT_TRUE(contains(html, "gemm-bbbb"));
  EXPECT_EQ(count(html, "<svg"), count(html, "</svg>"));
  EXPECT_EQ(count(html, "<svg"), 3u);  // bandwidth, one distribution (both criteria share it), heat map
}

TEST(ResultsHtml, StaysSmallAtScale) {
  // 20,000 nodes x 4 GPUs: the page must not grow with the ranks.
  RunInfo run = machine(20000, 4);
  std::vector<double> values(run.ranks.size(), 800);
  for (std::size_t i = 0; i < values.size(); i += 997) values[i] = 600;
  std::vector<StepResult> steps = {rank_step("gemm-aaaa", "gemm", {}, "tflops", values), sweep_step("ar", 80000, 300)};
  const Contract contract = contract_of("  - {id: every-gpu, benchmark: gemm, metric: tflops, bound: {min: 700}}\n"
                                        "  - {id: node, benchmark: gemm, metric: tflops, scope: node, outliers: {ratio: 0.95}}\n");
  const Verdict verdict = evaluate(contract, run, steps);
  EXPECT_EQ(verdict.criteria[0].worst_total, 81u);
  ReportInput in;
  in.run = &run;
  in.steps = &steps;
  in.verdict = &verdict;
  in.contract = &contract;
  HtmlOptions options;
  std::ostringstream out;
  write_html(out, in, options);
  const std::string html = out.str();
  EXPECT_LT(html.size(), 1u << 20) << "bytes: " << html.size();
  EXPECT_LE(count(html, "<rect x=\"") , options.max_heat_cells + 200);
  EXPECT_TRUE(contains(html, "14 nodes per cell showing the worst"));
  EXPECT_TRUE(contains(html, "and 76 more"));
}

TEST(ResultsMarkdown, VerdictEvidenceAndSteps) {
  Fixture f;
  std::ostringstream out;
  write_markdown(out, f.in);
  const std::string md = out.str();
  EXPECT_TRUE(contains(md, "# gpuaccept: camp&lt;b&gt;aign on testbed")) << md;
  EXPECT_TRUE(contains(md, "**Verdict: FAIL**")) << md;
  EXPECT_TRUE(contains(md, "| every-gpu | 500 TFLOP/s | &gt;= 700 | **FAIL** |")) << md;
  EXPECT_TRUE(contains(md, "### FAIL: every-gpu")) << md;
  EXPECT_TRUE(contains(md, "| rank 3  host node01&lt;script&gt;alert('x')&lt;/script&gt;&amp;\"  gpu 1  GPU-3 | 500 TFLOP/s | (-28.6%) |"))
      << md;
  EXPECT_TRUE(contains(md, "## Broken steps (1)")) << md;
  EXPECT_FALSE(contains(md, "<script")) << md;
}

TEST(ResultsJunit, OneCasePerCriterionAndStep) {
  Fixture f;
  std::ostringstream out;
  write_junit(out, f.in);
  const std::string xml = out.str();
  EXPECT_EQ(xml.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>", 0), 0u);
  EXPECT_TRUE(contains(xml, "<testsuites name=\"gpuaccept\" tests=\"6\" failures=\"3\" errors=\"1\" skipped=\"0\"")) << xml;
  EXPECT_TRUE(contains(xml, "<testsuite name=\"gpuaccept.camp&lt;b&gt;aign.contract\" tests=\"3\" failures=\"3\"")) << xml;
  EXPECT_EQ(count(xml, "<testcase "), 6u);
  EXPECT_TRUE(contains(xml, "name=\"every-gpu\"")) << xml;
  EXPECT_TRUE(contains(xml, "<failure type=\"criterion\" message=\"every GPU &lt;fast&gt;: measured 500 TFLOP/s, bound &gt;= 700\">"))
      << xml;
  EXPECT_TRUE(contains(xml, "rank 3  host node01&lt;script&gt;alert(&apos;x&apos;)&lt;/script&gt;&amp;&quot;")) << xml;
  EXPECT_TRUE(contains(xml, "<error type=\"timeout\"")) << xml;
  EXPECT_EQ(count(xml, "<testcase"), count(xml, "</testcase>"));
  EXPECT_FALSE(contains(xml, "<script"));
}

TEST(ResultsJunit, WaivedIsSkippedWithTheWaiver) {
  Fixture f;
  f.contract = contract_of("  - {id: every-gpu, benchmark: gemm, select: {dtype: bf16}, metric: tflops, bound: {min: 700}}\n",
                           "  - {criterion: every-gpu, reason: RMA 17, expires: 2099-01-01}\n");
  f.verdict = evaluate(f.contract, f.run, {f.steps[0]});
  std::vector<StepResult> one = {f.steps[0]};
  f.in.steps = &one;
  std::ostringstream out;
  write_junit(out, f.in);
  EXPECT_TRUE(contains(out.str(), "<skipped message=\"WAIVED: waived until 2099-01-01: RMA 17\"/>")) << out.str();
  EXPECT_TRUE(contains(out.str(), "failures=\"0\""));
}

TEST(ResultsJson, ReadsBackWithTablesAndVerdict) {
  Fixture f;
  std::ostringstream out;
  write_json(out, f.in);
  const auto doc = nlohmann::json::parse(out.str());
  EXPECT_EQ(doc["format"], "gpuaccept-export-1");
  EXPECT_EQ(doc["run"]["ranks"][3]["host"], "node01" + kEvil);
  EXPECT_EQ(doc["steps"].size(), 3u);
  const auto& gemm = doc["steps"][0];
  EXPECT_EQ(gemm["params"]["dtype"], "bf16");
  EXPECT_EQ(gemm["per_rank"]["columns"][2]["name"], "tflops");
  EXPECT_EQ(gemm["per_rank"]["columns"][2]["unit"], "TFLOP/s");
  EXPECT_EQ(gemm["per_rank"]["columns"][2]["values"][3], 500.0);
  EXPECT_EQ(gemm["per_rank"]["columns"][0]["values"][3], 3);  // an integer column stays integer
  EXPECT_EQ(doc["verdict"]["exit_code"], 3);
  EXPECT_EQ(doc["verdict"]["criteria"][0]["outcome"], "fail");
  EXPECT_EQ(doc["verdict"]["criteria"][0]["worst"][0]["rank"], 3);
  EXPECT_EQ(doc["verdict"]["criteria"][0]["measured"], 500.0);
  EXPECT_TRUE(doc["verdict"]["criteria"][1]["worst"][0]["reference"].is_null());  // NaN as null
  std::ostringstream one;
  write_json(one, f.in, "ar-1");
  EXPECT_EQ(nlohmann::json::parse(one.str())["steps"].size(), 1u);
}

TEST(ResultsCsv, PerRankJoinedWithHostsAndQuoted) {
  Fixture f;
  f.run.ranks[5].host = "=HYPERLINK(\"x\")";
  std::ostringstream out;
  write_csv(out, f.run, f.steps[0], "per_rank");
  const std::string csv = out.str();
  EXPECT_EQ(csv.substr(0, csv.find('\n')), "rank,host,gpu,device,uuid,status,tflops");
  EXPECT_TRUE(contains(csv, "\n0,node00,0,NVIDIA H100,GPU-0,0,800\n")) << csv;
  EXPECT_TRUE(contains(csv, "\n3,\"node01<script>alert('x')</script>&\"\"\",1,NVIDIA H100,GPU-3,0,500\n")) << csv;
  EXPECT_TRUE(contains(csv, "\n5,\"'=HYPERLINK(\"\"x\"\")\",1,")) << csv;  // not a formula in a spreadsheet
  std::ostringstream points;
  write_csv(points, f.run, f.steps[1], "points");
  EXPECT_EQ(points.str().substr(0, points.str().find('\n')), "bytes,busbw_oop,time_oop");
  EXPECT_TRUE(contains(points.str(), "\n1048576,300,")) << points.str();
}

// At full scale `report` leaves the sample sets in the file (read_results with
// SampleLoading::listed) and reads each when it draws or exports it.
TEST(ResultsSamples, ReadFromTheFileWhenTheStepsHoldNone) {
  std::string pattern = (std::filesystem::temp_directory_path() / "gpuaccept-report-XXXXXX").string();
  ASSERT_NE(mkdtemp(pattern.data()), nullptr);
  const std::filesystem::path path = std::filesystem::path(pattern) / "run.h5";
  Fixture f;
  StepResult burnin = rank_step("burnin-cccc", "burnin", {}, "tflops", std::vector<double>(8, 700));
  burnin.samples.push_back({"tflops", "TFLOP/s", "rank", "interval", 8, 3, {}});
  for (int r = 0; r < 8; ++r)
    for (int c = 0; c < 3; ++c) burnin.samples.back().values.push_back(700 + 10 * c + r);
  {
    ResultsWriter writer = ResultsWriter::create(path, f.run);
    writer.write_step(burnin);
    writer.finish(1);
  }
  ResultsFile file = read_results(path, ReadOptions{SampleLoading::listed, {}});
  ASSERT_EQ(file.steps.size(), 1u);
  ASSERT_FALSE(file.steps[0].samples[0].loaded());
  const Verdict verdict = evaluate(Contract{}, file.run, file.steps);
  ReportInput in;
  in.run = &file.run;
  in.steps = &file.steps;
  in.verdict = &verdict;
  const std::string title = "burnin: tflops per interval (8 ranks)";
  {  // Without a file to read them from, the sets without values are not drawn.
    std::ostringstream out;
    write_html(out, in);
    EXPECT_FALSE(contains(out.str(), title));
  }
  in.samples_from = file.path.string();
  std::ostringstream html;
  write_html(html, in);
  EXPECT_TRUE(contains(html.str(), "Over time"));
  EXPECT_TRUE(contains(html.str(), title)) << html.str().substr(0, 4000);
  std::ostringstream json;
  write_json(json, in);
  const auto samples = nlohmann::json::parse(json.str())["steps"][0]["samples"];
  ASSERT_EQ(samples.size(), 1u);
  EXPECT_EQ(samples[0]["rows"], 8);
  ASSERT_EQ(samples[0]["values"].size(), 24u);
  EXPECT_EQ(samples[0]["values"][0], 700.0);
  EXPECT_EQ(samples[0]["values"][23], 727.0);  // rank 7, interval 2: 700 + 20 + 7
  std::filesystem::remove_all(pattern);
}

}  // namespace
}  // namespace gpuaccept
