// Reports of collective steps: bandwidth plots per collective and scope, per-communicator
// distributions with the outliers named (bounded at tens of thousands of communicators), and
// the pairs diagnosis in every format (terminal is in test_communicator.cpp). Host names carry
// markup, which must come out as text. JUnit is checked for well-formedness by a small reader
// here (and parsed with Python's xml.etree in tests/integration/test_results.py).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "results/report.hpp"
#include "tests/unit/results/fixtures.hpp"

namespace gpuaccept {
namespace {

using testing::collective_step;
using testing::contract_of;
using testing::machine;
using testing::ranks_of_nodes;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// Whether `xml` is well-formed as far as JUnit readers care: one root, every element closed
// in order, attribute values quoted, no raw '<' in text or attributes, only the five named
// entities and numeric character references. Returns "" or what is wrong.
std::string xml_problem(const std::string& xml) {
  std::vector<std::string> open;
  std::size_t i = 0, roots = 0;
  const auto entity_ok = [&](std::size_t at) {
    const std::size_t end = xml.find(';', at);
    if (end == std::string::npos || end - at > 8) return false;
    const std::string name = xml.substr(at + 1, end - at - 1);
    if (name == "amp" || name == "lt" || name == "gt" || name == "quot" || name == "apos") return true;
    return name.size() > 1 && name[0] == '#';
  };
  if (xml.rfind("<?xml", 0) == 0) i = xml.find("?>") + 2;
  while (i < xml.size()) {
    if (xml[i] == '&') {
      if (!entity_ok(i)) return "bad entity at " + std::to_string(i);
      ++i;
      continue;
    }
    if (xml[i] != '<') {
      if (open.empty() && !std::isspace(static_cast<unsigned char>(xml[i]))) return "text outside the root";
      ++i;
      continue;
    }
    const std::size_t end = xml.find('>', i);
    if (end == std::string::npos) return "unclosed tag";
    std::string tag = xml.substr(i + 1, end - i - 1);
    if (tag.find('<') != std::string::npos) return "'<' inside a tag at " + std::to_string(i);
    if (tag[0] == '/') {
      if (open.empty() || open.back() != tag.substr(1)) return "mismatched </" + tag.substr(1) + ">";
      open.pop_back();
    } else {
      const bool empty = tag.back() == '/';
      if (empty) tag.pop_back();
      const std::string name = tag.substr(0, tag.find_first_of(" \t\n"));
      // Attributes: name="value", value without '<', entities checked.
      std::size_t a = name.size();
      while (a < tag.size()) {
        while (a < tag.size() && std::isspace(static_cast<unsigned char>(tag[a]))) ++a;
        if (a >= tag.size()) break;
        const std::size_t eq = tag.find('=', a);
        if (eq == std::string::npos || eq + 1 >= tag.size() || tag[eq + 1] != '"') return "unquoted attribute in <" + name;
        const std::size_t close = tag.find('"', eq + 2);
        if (close == std::string::npos) return "unterminated attribute in <" + name;
        for (std::size_t k = eq + 2; k < close; ++k)
          if (tag[k] == '&' && !entity_ok(i + 1 + k)) return "bad entity in an attribute of <" + name;
        a = close + 1;
      }
      if (open.empty()) ++roots;
      if (!empty) open.push_back(name);
    }
    i = end + 1;
  }
  if (!open.empty()) return "unclosed <" + open.back() + ">";
  return roots == 1 ? "" : "expected one root element";
}

TEST(XmlChecker, CatchesWhatItMust) {
  EXPECT_EQ(xml_problem("<a><b x=\"1\"/>t &amp; u</a>"), "");
  EXPECT_NE(xml_problem("<a><b></a></b>"), "");
  EXPECT_NE(xml_problem("<a>x < y</a>"), "");
  EXPECT_NE(xml_problem("<a>x & y</a>"), "");
  EXPECT_NE(xml_problem("<a x=1></a>"), "");
  EXPECT_NE(xml_problem("<a></a><b></b>"), "");
}

const std::string kEvil = "<script>alert('x')</script>";

// 4 nodes x 2 ranks (node02 named with markup): a pairs step with a slow link between node01
// and node02, a node step, and a world all-gather.
struct CollectiveRun {
  RunInfo run = machine(4, 2);
  std::vector<StepResult> steps;
  Contract contract;
  Verdict verdict;
  ReportInput in;
  std::string bad;

  CollectiveRun() {
    bad = "node02" + kEvil;
    run.ranks[4].host = run.ranks[5].host = bad;
    const std::vector<std::vector<std::pair<int, int>>> rounds{{{0, 1}, {2, 3}}, {{0, 2}, {1, 3}}, {{0, 3}, {1, 2}}};
    std::vector<std::vector<std::int32_t>> groups;
    std::vector<int> round;
    std::vector<double> busbw;
    for (std::size_t r = 0; r < rounds.size(); ++r) {
      for (const auto& [a, b] : rounds[r]) {
        groups.push_back(ranks_of_nodes({a, b}, 2));
        round.push_back(static_cast<int>(r));
        busbw.push_back(a == 1 && b == 2 ? 9.0 : 20.0);
      }
    }
    steps.push_back(collective_step("pairs-1", "pairs", run, groups, busbw, round));
    steps.push_back(collective_step("node-1", "node", run,
                                    {ranks_of_nodes({0}, 2), ranks_of_nodes({1}, 2), ranks_of_nodes({2}, 2),
                                     ranks_of_nodes({3}, 2)},
                                    {300, 301, 302, 303}));
    steps.push_back(collective_step("world-1", "world", run, {ranks_of_nodes({0, 1, 2, 3}, 2)}, {40}, {}, "allgather"));
    contract = contract_of(
        "  - {id: pairs, benchmark: allreduce, select: {scope: pairs}, point: {bytes: 64M}, metric: busbw_oop, "
        "scope: pair, outliers: {ratio: 0.9}}\n"
        "  - {id: gather, benchmark: allgather, point: {bytes: 64M}, metric: busbw_oop, bound: {min: 30}}\n");
    verdict = evaluate(contract, run, steps);
    in.results_path = "run.h5";
    in.run = &run;
    in.steps = &steps;
    in.verdict = &verdict;
    in.contract = &contract;
    in.contract_source = "contract.yaml";
  }
};

TEST(CollectiveReports, DiagnosisIsInEveryFormat) {
  CollectiveRun f;
  ASSERT_EQ(f.verdict.criteria[0].outcome, Outcome::fail);
  ASSERT_EQ(f.verdict.criteria[0].suspects.size(), 1u);
  const std::string link = "suspected link node01<->" + f.bad;
  EXPECT_EQ(f.verdict.criteria[0].suspects[0].text.rfind(link, 0), 0u) << f.verdict.criteria[0].suspects[0].text;

  std::ostringstream junit;
  write_junit(junit, f.in);
  EXPECT_EQ(xml_problem(junit.str()), "") << junit.str();
  EXPECT_TRUE(contains(junit.str(), "diagnosis: suspected link node01&lt;-&gt;node02&lt;script&gt;")) << junit.str();
  EXPECT_FALSE(contains(junit.str(), "<script"));

  std::ostringstream md;
  write_markdown(md, f.in);
  EXPECT_TRUE(contains(md.str(), "- diagnosis: suspected link node01&lt;-&gt;node02&lt;script&gt;")) << md.str();
  EXPECT_TRUE(contains(md.str(), "| communicator node01&lt;-&gt;node02&lt;script&gt;")) << md.str();

  std::ostringstream json;
  write_json(json, f.in);
  const auto doc = nlohmann::json::parse(json.str());
  const auto& c = doc["verdict"]["criteria"][0];
  EXPECT_EQ(c["scope"], "communicator");
  EXPECT_EQ(c["worst"][0]["communicator"]["label"], "node01<->" + f.bad);
  EXPECT_EQ(c["worst"][0]["communicator"]["round"], 2);
  EXPECT_EQ(c["suspects"][0]["kind"], "link");
  EXPECT_EQ(doc["verdict"]["suspects"][0]["hosts"][1], f.bad);

  std::ostringstream html;
  write_html(html, f.in);
  const std::string page = html.str();
  EXPECT_FALSE(contains(page, "<script")) << "markup from a host name reached the page";
  EXPECT_TRUE(contains(page, "suspected link node01&lt;-&gt;node02&lt;script&gt;")) << page;
  // One bandwidth plot per collective and scope.
  EXPECT_TRUE(contains(page, "allgather scope=world: bus bandwidth")) << page;
  EXPECT_TRUE(contains(page, "allreduce scope=node: busbw_oop over 4 communicators")) << page;
  EXPECT_TRUE(contains(page, "allreduce scope=pairs: busbw_oop over 6 communicators")) << page;
  // The pairs distribution is at the criterion's size, with its outlier named.
  EXPECT_TRUE(contains(page, "allreduce scope=pairs: busbw_oop at 64M over 6 communicators (pairs)")) << page;
  EXPECT_TRUE(contains(page, "&lt;/script&gt; 9 GB/s (-55.0% vs peer median 20)")) << page;
}

TEST(CollectiveReports, DiagnosisWithoutACriterionIsListedApart) {
  // The same run judged by a contract that does not look at pairs: the default rule names the
  // link in a Diagnosis section, and in the pairs step's JUnit test case.
  CollectiveRun f;
  f.contract = contract_of("  - {id: gather, benchmark: allgather, point: {bytes: 64M}, metric: busbw_oop, "
                           "bound: {min: 30}}\n");
  f.verdict = evaluate(f.contract, f.run, f.steps);
  ASSERT_EQ(f.verdict.suspects.size(), 1u);
  EXPECT_EQ(f.verdict.exit_code(), 0);
  std::ostringstream html, md, junit;
  write_html(html, f.in);
  write_markdown(md, f.in);
  write_junit(junit, f.in);
  EXPECT_TRUE(contains(html.str(), "<h3 id=\"diagnosis\">Diagnosis (1)</h3>")) << html.str();
  EXPECT_TRUE(contains(html.str(), "<li>suspected link node01&lt;-&gt;node02&lt;script&gt;")) << html.str();
  EXPECT_FALSE(contains(html.str(), "<script"));
  EXPECT_TRUE(contains(md.str(), "## Diagnosis (1)\n\n- suspected link node01&lt;-&gt;node02&lt;script&gt;")) << md.str();
  EXPECT_EQ(xml_problem(junit.str()), "") << junit.str();
  const std::string xml = junit.str();
  const std::size_t pairs_case = xml.find("name=\"pairs-1 (");
  ASSERT_NE(pairs_case, std::string::npos) << xml;
  const std::size_t out = xml.find("<system-out>suspected link node01&lt;-&gt;node02", pairs_case);
  EXPECT_LT(out, xml.find("</testcase>", pairs_case)) << xml;
  // Without the default rule's own plot naming, the pairs distribution still labels the slow pair.
  EXPECT_TRUE(contains(html.str(), "allreduce scope=pairs: busbw_oop at 64M over 6 communicators</text>")) << html.str();
  EXPECT_TRUE(contains(html.str(), "9 GB/s (-55.0% vs median)")) << html.str();
}

TEST(CollectiveReports, CleanDiagnosisNamesNothing) {
  CollectiveRun f;
  for (auto& v : f.steps[0].points.find("busbw_oop")->values) v = 20;
  f.verdict = evaluate(f.contract, f.run, f.steps);
  EXPECT_TRUE(f.verdict.suspects.empty());
  std::ostringstream html, md, junit;
  write_html(html, f.in);
  write_markdown(md, f.in);
  write_junit(junit, f.in);
  EXPECT_FALSE(contains(html.str(), "suspected"));
  EXPECT_FALSE(contains(md.str(), "suspected"));
  EXPECT_FALSE(contains(junit.str(), "suspected"));
  EXPECT_EQ(xml_problem(junit.str()), "");
}

TEST(CollectiveReports, EveryCollectiveGetsItsPlot) {
  RunInfo run = machine(2, 2);
  std::vector<StepResult> steps;
  for (const char* op : {"allreduce", "allgather", "reducescatter", "alltoall", "broadcast", "reduce", "gather", "scatter",
                         "sendrecv"})
    steps.push_back(collective_step(std::string(op) + "-1", "world", run, {{0, 1, 2, 3}}, {10}, {}, op));
  const Verdict v = evaluate(Contract{}, run, steps);
  ReportInput in{"run.h5", &run, &steps, &v, nullptr, "", nullptr};
  std::ostringstream html;
  write_html(html, in);
  for (const auto& s : steps)
    EXPECT_TRUE(contains(html.str(), s.benchmark + " scope=world: bus bandwidth")) << s.benchmark;
}

TEST(CollectiveReports, TensOfThousandsOfCommunicatorsStayBounded) {
  // 20,000 nodes x 1 rank, one node communicator each, 400 slow; no contract: the default
  // naming (below 0.9 x the median) labels the 10 worst and counts the rest.
  const int nodes = 20000;
  RunInfo run = machine(nodes, 1);
  std::vector<std::vector<std::int32_t>> groups;
  std::vector<double> busbw;
  for (int n = 0; n < nodes; ++n) {
    groups.push_back({n});
    busbw.push_back(n % 50 == 3 ? 100.0 + n % 7 : 300.0);
  }
  std::vector<StepResult> steps{collective_step("node-1", "node", run, groups, busbw, {}, "allreduce", {1 << 20, 64 << 20})};
  const Verdict v = evaluate(Contract{}, run, steps);
  ReportInput in{"run.h5", &run, &steps, &v, nullptr, "", nullptr};
  std::ostringstream html;
  write_html(html, in);
  const std::string page = html.str();
  EXPECT_LT(page.size(), 400'000u);
  EXPECT_TRUE(contains(page, "400 communicators below 0.9 x the median; the 10 worst are named.")) << page.substr(0, 3000);
  EXPECT_TRUE(contains(page, " 100 GB/s (-66.7% vs median)")) << "the worst nodes are labelled";
}

}  // namespace
}  // namespace gpuaccept
