// Scope communicator (alias pair) over collective steps, the localisation of slow nodes and
// links from scope=pairs steps, bisect culprits, scaling within one scope=scaling step, and
// what the reports make of them. Every step is hand-built in the layout the collectives write
// (tests/unit/results/fixtures.hpp: collective_step), with the slow member planted.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "results/evaluate.hpp"
#include "results/report.hpp"
#include "results/store.hpp"
#include "tests/unit/results/fixtures.hpp"

namespace gpuaccept {
namespace {

using testing::collective_step;
using testing::contract_of;
using testing::machine;
using testing::node_name;
using testing::ranks_of_nodes;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::string printed(const Verdict& v) {
  std::ostringstream out;
  print_verdict(out, v);
  return out.str();
}

// 4 nodes x 2 ranks in 3 rounds of disjoint pairs: every node meets the 3 others once.
//   round 0: 0-1, 2-3   round 1: 0-2, 1-3   round 2: 0-3, 1-2
struct PairsPlan {
  std::vector<std::vector<std::int32_t>> groups;
  std::vector<int> rounds;
  std::vector<std::pair<int, int>> nodes;
};

PairsPlan four_node_pairs() {
  PairsPlan p;
  const std::vector<std::vector<std::pair<int, int>>> rounds{{{0, 1}, {2, 3}}, {{0, 2}, {1, 3}}, {{0, 3}, {1, 2}}};
  for (std::size_t r = 0; r < rounds.size(); ++r) {
    for (const auto& [a, b] : rounds[r]) {
      p.groups.push_back(ranks_of_nodes({a, b}, 2));
      p.rounds.push_back(static_cast<int>(r));
      p.nodes.emplace_back(a, b);
    }
  }
  return p;
}

// Every pair at 20 GB/s except those `slow` says, at 10.
std::vector<double> pair_busbw(const PairsPlan& p, const std::function<bool(int, int)>& slow) {
  std::vector<double> v;
  for (const auto& [a, b] : p.nodes) v.push_back(slow(a, b) ? 10.0 : 20.0 + 0.1 * a);
  return v;
}

const char* kPairsOutliers =
    "  - {id: pairs, benchmark: allreduce, select: {scope: pairs}, point: {bytes: 64M}, metric: busbw_oop,\n"
    "     scope: pair, outliers: {ratio: 0.9}}\n";

std::vector<std::string> texts(const std::vector<Suspect>& suspects) {
  std::vector<std::string> out;
  for (const auto& s : suspects) out.push_back(s.text);
  return out;
}

TEST(CommunicatorScope, PlantedSlowLinkIsNamedAsLinkAndNeitherNode) {
  const auto run = machine(4, 2);
  const auto plan = four_node_pairs();
  const auto step = collective_step("pairs-1", "pairs", run, plan.groups,
                                    pair_busbw(plan, [](int a, int b) { return a == 1 && b == 2; }), plan.rounds);
  const auto v = evaluate(contract_of(kPairsOutliers), run, {step});
  const auto& c = v.criteria[0];
  EXPECT_EQ(c.outcome, Outcome::fail);
  EXPECT_EQ(c.scope, "communicator");
  EXPECT_EQ(c.members, 6u);
  EXPECT_DOUBLE_EQ(c.measured, 1);
  ASSERT_EQ(c.worst.size(), 1u);
  EXPECT_EQ(c.worst[0].label, "node01<->node02");
  EXPECT_EQ(c.worst[0].round, 2);
  EXPECT_EQ(c.worst[0].ranks, 4u);
  EXPECT_EQ(c.worst[0].hosts, (std::vector<std::string>{"node01", "node02"}));
  ASSERT_EQ(c.suspects.size(), 1u) << ::testing::PrintToString(texts(c.suspects));
  EXPECT_EQ(c.suspects[0].kind, Suspect::Kind::link);
  EXPECT_EQ(c.suspects[0].text.rfind("suspected link node01<->node02", 0), 0u) << c.suspects[0].text;
  // A link is not a node: nothing to drain.
  EXPECT_TRUE(v.quarantine_hosts().empty());
  const std::string text = printed(v);
  EXPECT_TRUE(contains(text, "worst: node01<->node02  (4 ranks)  round 2  10 GB/s (-50.")) << text;
  EXPECT_TRUE(contains(text, "diagnosis: suspected link node01<->node02 (slow in round 2; node01 fine with 2 other "
                             "partners, node02 with 2)"))
      << text;
  EXPECT_FALSE(contains(text, "suspected node")) << text;
}

TEST(CommunicatorScope, SpreadRuleNamesAnUnstableLink) {
  // Every pair at the same mean; the pair node01<->node02 with a spread of iteration times 30x
  // the others' (a flapping link): a rule on time_cv_oop names it, and says "unstable", not "slow".
  const auto run = machine(4, 2);
  const auto plan = four_node_pairs();
  auto step = collective_step("pairs-1", "pairs", run, plan.groups, pair_busbw(plan, [](int, int) { return false; }),
                              plan.rounds);
  auto& cv = step.points.column("time_cv_oop", "", false, Better::lower).values;
  for (double g : step.points.find("group")->values) {
    const auto [a, b] = plan.nodes[static_cast<std::size_t>(g)];
    cv.push_back(a == 1 && b == 2 ? 0.3 : 0.01 + 0.001 * a);
  }
  const auto v = evaluate(contract_of("  - {id: stable, benchmark: allreduce, select: {scope: pairs}, point: {bytes: 64M},\n"
                                      "     metric: time_cv_oop, scope: pair, outliers: {ratio: 0.33}}\n"),
                          run, {step});
  const auto& c = v.criteria[0];
  EXPECT_EQ(c.outcome, Outcome::fail);
  EXPECT_DOUBLE_EQ(c.measured, 1);
  EXPECT_EQ(texts(c.suspects), (std::vector<std::string>{"suspected link node01<->node02 (unstable in round 2; node01 "
                                                          "fine with 2 other partners, node02 with 2)"}));
  EXPECT_TRUE(v.quarantine_hosts().empty());
}

TEST(CommunicatorScope, SameDiagnosisAfterTheHdf5Store) {
  // group_ranks (padded with -1) and the integer key columns survive the results file.
  auto run = machine(4, 2);
  run.schema_version = kSchemaVersion;
  const auto plan = four_node_pairs();
  const auto step = collective_step("pairs-1", "pairs", run, plan.groups,
                                    pair_busbw(plan, [](int a, int b) { return a == 1 && b == 2; }), plan.rounds);
  const auto path = std::filesystem::temp_directory_path() / ("gpuaccept-comm-" + std::to_string(getpid()) + ".h5");
  {
    ResultsWriter writer = ResultsWriter::create(path, run);
    writer.write_step(step);
    writer.finish(1.0);
  }
  const ResultsFile file = read_results(path);
  std::filesystem::remove(path);
  const auto v = evaluate(contract_of(kPairsOutliers), file.run, file.steps);
  ASSERT_EQ(v.criteria[0].suspects.size(), 1u);
  EXPECT_EQ(v.criteria[0].suspects[0].text.rfind("suspected link node01<->node02", 0), 0u);
  EXPECT_EQ(communicator_labels(file.run, file.steps.at(0)).at(5), "node01<->node02");
}

TEST(CommunicatorScope, PlantedSlowNodeIsNamedAsNodeAndItsLinksAreNot) {
  const auto run = machine(4, 2);
  const auto plan = four_node_pairs();
  const auto step = collective_step("pairs-1", "pairs", run, plan.groups,
                                    pair_busbw(plan, [](int a, int b) { return a == 3 || b == 3; }), plan.rounds);
  const auto v = evaluate(contract_of(kPairsOutliers), run, {step});
  const auto& c = v.criteria[0];
  EXPECT_EQ(c.outcome, Outcome::fail);
  EXPECT_DOUBLE_EQ(c.measured, 3);
  ASSERT_EQ(c.suspects.size(), 1u) << ::testing::PrintToString(texts(c.suspects));
  EXPECT_EQ(c.suspects[0].kind, Suspect::Kind::node);
  EXPECT_EQ(c.suspects[0].text, "suspected node node03 (slow with 3 of 3 partners)");
  EXPECT_EQ(c.failing_hosts, (std::vector<std::string>{"node03"}));
  EXPECT_EQ(v.quarantine_hosts(), (std::vector<std::string>{"node03"}));
  ASSERT_EQ(v.suspects.size(), 1u);
  EXPECT_EQ(v.suspects[0].criterion, "pairs");
  EXPECT_FALSE(contains(printed(v), "link")) << printed(v);
}

TEST(CommunicatorScope, BoundOnPairsAlsoDiagnoses) {
  // A bound instead of an outlier rule: the pairs below 15 GB/s are the slow ones.
  const auto run = machine(4, 2);
  const auto plan = four_node_pairs();
  const auto step = collective_step("pairs-1", "pairs", run, plan.groups,
                                    pair_busbw(plan, [](int a, int b) { return a == 0 && b == 2; }), plan.rounds);
  const auto v = evaluate(contract_of("  - {id: p, benchmark: allreduce, select: {scope: pairs}, point: {bytes: 64M}, "
                                      "metric: busbw_oop, scope: communicator, bound: {min: 15}}\n"),
                          run, {step});
  const auto& c = v.criteria[0];
  EXPECT_EQ(c.outcome, Outcome::fail);
  EXPECT_DOUBLE_EQ(c.measured, 10);  // combine min over the 6 pairs
  ASSERT_EQ(c.worst.size(), 1u);
  EXPECT_NEAR(c.worst[0].shortfall, 5.0 / 15, 1e-12);
  ASSERT_EQ(c.suspects.size(), 1u);
  EXPECT_EQ(c.suspects[0].text.rfind("suspected link node00<->node02", 0), 0u);
}

TEST(CommunicatorScope, CleanPairsNameNothing) {
  const auto run = machine(4, 2);
  const auto plan = four_node_pairs();
  const auto step = collective_step("pairs-1", "pairs", run, plan.groups,
                                    pair_busbw(plan, [](int, int) { return false; }), plan.rounds);
  const auto v = evaluate(contract_of(kPairsOutliers), run, {step});
  EXPECT_EQ(v.criteria[0].outcome, Outcome::pass);
  EXPECT_TRUE(v.criteria[0].suspects.empty());
  EXPECT_TRUE(v.suspects.empty());
  EXPECT_TRUE(v.quarantine_hosts().empty());
  EXPECT_FALSE(contains(printed(v), "suspected")) << printed(v);
}

TEST(CommunicatorScope, PairsStepsNoCriterionJudgesAreDiagnosedWithTheDefaultRule) {
  // busbw_oop at the largest size below 0.9 x the step's median pair.
  const auto run = machine(4, 2);
  const auto plan = four_node_pairs();
  const auto link = collective_step("pairs-1", "pairs", run, plan.groups,
                                    pair_busbw(plan, [](int a, int b) { return a == 0 && b == 1; }), plan.rounds);
  const auto unrelated = contract_of("  - {id: w, benchmark: allreduce, select: {scope: world}, point: {bytes: 1M}, "
                                     "metric: busbw_oop, bound: {min: 1}}\n");
  const auto v = evaluate(unrelated, run, {link});
  ASSERT_EQ(v.suspects.size(), 1u);
  EXPECT_EQ(v.suspects[0].kind, Suspect::Kind::link);
  EXPECT_EQ(v.suspects[0].criterion, "");
  EXPECT_TRUE(contains(printed(v), "diagnosis (1):\n  suspected link node00<->node01")) << printed(v);
  EXPECT_TRUE(v.quarantine_hosts().empty());

  const auto node = collective_step("pairs-2", "pairs", run, plan.groups,
                                    pair_busbw(plan, [](int a, int b) { return a == 2 || b == 2; }), plan.rounds);
  const auto n = evaluate(Contract{}, run, {node});  // no criteria at all
  ASSERT_EQ(n.suspects.size(), 1u);
  EXPECT_EQ(n.suspects[0].text, "suspected node node02 (slow with 3 of 3 partners)");
  EXPECT_EQ(n.quarantine_hosts(), (std::vector<std::string>{"node02"}));
  EXPECT_EQ(n.exit_code(), 0);  // a diagnosis alone fails nothing; the criteria decide

  const auto clean = collective_step("pairs-3", "pairs", run, plan.groups,
                                     pair_busbw(plan, [](int, int) { return false; }), plan.rounds);
  EXPECT_TRUE(evaluate(unrelated, run, {clean}).suspects.empty());
}

TEST(CommunicatorScope, TwoSlowNodesThatMetAreNotCalledALink) {
  // 0 and 1 are both slow with everyone: two suspected nodes, and their shared pair is theirs.
  const auto run = machine(4, 2);
  const auto plan = four_node_pairs();
  const auto step = collective_step("pairs-1", "pairs", run, plan.groups,
                                    pair_busbw(plan, [](int a, int b) { return a <= 1 || b <= 1; }), plan.rounds);
  // 5 of 6 pairs are slow, so the median itself is slow: judge against a bound, not the peers.
  const auto b = evaluate(contract_of("  - {id: p, benchmark: allreduce, select: {scope: pairs}, point: {bytes: 64M}, "
                                      "metric: busbw_oop, scope: pair, bound: {min: 15}}\n"),
                          run, {step});
  ASSERT_EQ(b.criteria[0].suspects.size(), 2u) << ::testing::PrintToString(texts(b.criteria[0].suspects));
  EXPECT_EQ(b.criteria[0].suspects[0].text, "suspected node node00 (slow with 3 of 3 partners)");
  EXPECT_EQ(b.criteria[0].suspects[1].text, "suspected node node01 (slow with 3 of 3 partners)");
}

// 8 nodes x 2 ranks, scope=node: one communicator per node, node05 planted at 0.8 x.
StepResult node_step(const RunInfo& run, double slow = 0.8) {
  std::vector<std::vector<std::int32_t>> groups;
  std::vector<double> busbw;
  for (int n = 0; n < 8; ++n) {
    groups.push_back(ranks_of_nodes({n}, 2));
    busbw.push_back(n == 5 ? 300 * slow : 300 + n);
  }
  return collective_step("node-1", "node", run, groups, busbw);
}

TEST(CommunicatorScope, OutlierRuleOnNodeCommunicatorsNamesAndDrainsTheNode) {
  const auto run = machine(8, 2);
  const auto v = evaluate(contract_of("  - {id: nvlink, benchmark: allreduce, select: {scope: node}, point: {bytes: 1M},"
                                      " metric: busbw_oop, scope: communicator, outliers: {ratio: 0.95}}\n"),
                          run, {node_step(run)});
  const auto& c = v.criteria[0];
  EXPECT_EQ(c.outcome, Outcome::fail);
  EXPECT_DOUBLE_EQ(c.measured, 1);
  ASSERT_EQ(c.worst.size(), 1u);
  EXPECT_EQ(c.worst[0].label, "node05");
  EXPECT_DOUBLE_EQ(c.worst[0].value, 240);
  EXPECT_DOUBLE_EQ(c.worst[0].reference, 302.5);  // median of 240, 300, 301, 302, 303, 304, 306, 307
  EXPECT_EQ(c.failing_hosts, (std::vector<std::string>{"node05"}));
  EXPECT_EQ(v.quarantine_hosts(), (std::vector<std::string>{"node05"}));
  EXPECT_TRUE(c.suspects.empty());  // not a pairs step
  EXPECT_TRUE(contains(printed(v), "worst: node05  (2 ranks)  240 GB/s (-20.7% vs peer median 302.5)")) << printed(v);

  // MAD rule, peers all: the same node.
  const auto mad = evaluate(contract_of("  - {id: m, benchmark: allreduce, select: {scope: node}, point: {bytes: 1M},"
                                        " metric: busbw_oop, scope: communicator, outliers: {mad: 4, peers: all}}\n"),
                            run, {node_step(run)});
  ASSERT_EQ(mad.criteria[0].worst.size(), 1u);
  EXPECT_EQ(mad.criteria[0].worst[0].label, "node05");

  // Clean nodes pass.
  EXPECT_EQ(evaluate(contract_of("  - {id: n, benchmark: allreduce, select: {scope: node}, point: {bytes: 1M}, "
                                 "metric: busbw_oop, scope: communicator, outliers: {ratio: 0.95}}\n"),
                     run, {node_step(run, 1.0)})
                .criteria[0]
                .outcome,
            Outcome::pass);
}

TEST(CommunicatorScope, CombineMeetsWaiversAndHoldIn) {
  const auto run = machine(8, 2);
  const std::string sel = "benchmark: allreduce, select: {scope: node}, point: {bytes: 1M}, metric: busbw_oop, "
                          "scope: communicator";
  // count of communicators that meet 290: 7 of 8.
  const auto count = evaluate(contract_of("  - {id: c, " + sel + ", combine: count, meets: {min: 290}, bound: {min: 8}}\n"),
                              run, {node_step(run)});
  EXPECT_DOUBLE_EQ(count.criteria[0].measured, 7);
  EXPECT_EQ(count.criteria[0].measured_unit, "communicators");
  // median over communicators.
  const auto median = evaluate(contract_of("  - {id: m, " + sel + ", combine: median, bound: {min: 300}}\n"), run,
                               {node_step(run)});
  EXPECT_DOUBLE_EQ(median.criteria[0].measured, 302.5);
  EXPECT_EQ(median.criteria[0].outcome, Outcome::pass);
  // A waiver on the slow node's host waives the communicator; an expired one does not.
  const std::string crit = "  - {id: w, " + sel + ", bound: {min: 290}}\n";
  const auto waived = evaluate(contract_of(crit, "  - {criterion: w, hosts: [node05], reason: RMA-1, expires: 2099-01-01}\n"),
                               run, {node_step(run)});
  EXPECT_EQ(waived.criteria[0].outcome, Outcome::waived);
  ASSERT_EQ(waived.criteria[0].worst.size(), 1u);
  EXPECT_TRUE(waived.criteria[0].worst[0].waived);
  EXPECT_TRUE(waived.quarantine_hosts().empty());
  const auto expired = evaluate(contract_of(crit, "  - {criterion: w, hosts: [node05], reason: RMA-1, expires: 2000-01-01}\n"),
                                run, {node_step(run)});
  EXPECT_EQ(expired.criteria[0].outcome, Outcome::fail);
  // hold_in over repetitions: repetition 1 is clean.
  auto rep0 = node_step(run);
  auto rep1 = node_step(run, 1.0);
  rep1.id = "node-2";
  rep1.repetition = 1;
  const auto hold =
      evaluate(contract_of("  - {id: h, " + sel + ", bound: {min: 290}, hold_in: {at_least: 1, of: 2}}\n"), run, {rep0, rep1});
  EXPECT_EQ(hold.criteria[0].outcome, Outcome::pass);
  const auto hold2 =
      evaluate(contract_of("  - {id: h, " + sel + ", bound: {min: 290}, hold_in: {at_least: 2}}\n"), run, {rep0, rep1});
  EXPECT_EQ(hold2.criteria[0].outcome, Outcome::fail);
  // across_repetitions merges each communicator's repetitions: mean of 240 and 300 is 270.
  const auto across = evaluate(
      contract_of("  - {id: a, " + sel + ", across_repetitions: mean, bound: {min: 290}}\n"), run, {rep0, rep1});
  EXPECT_EQ(across.criteria[0].members, 8u);
  ASSERT_EQ(across.criteria[0].worst.size(), 1u);
  EXPECT_DOUBLE_EQ(across.criteria[0].worst[0].value, 270);
  EXPECT_EQ(across.criteria[0].worst[0].label, "node05");
}

TEST(CommunicatorScope, OtherLabels) {
  const auto run = machine(4, 2);
  // rail: local rank 1 of every node.
  const auto rail = collective_step("rail-1", "rail", run, {{0, 2, 4, 6}, {1, 3, 5, 7}}, {100, 50});
  const auto v = evaluate(contract_of("  - {id: r, benchmark: allreduce, select: {scope: rail}, point: {bytes: 1M}, "
                                      "metric: busbw_oop, scope: communicator, bound: {min: 80}}\n"),
                          run, {rail});
  ASSERT_EQ(v.criteria[0].worst.size(), 1u);
  EXPECT_EQ(v.criteria[0].worst[0].label, "rail 1");
  EXPECT_EQ(v.criteria[0].worst[0].hosts_total, 4u);
  EXPECT_TRUE(contains(printed(v), "rail 1  (hosts node00, node01, node02, node03; 4 ranks)")) << printed(v);
  // A rail is not a node: nothing to drain.
  EXPECT_TRUE(v.quarantine_hosts().empty());
  // world: one communicator.
  const auto world = collective_step("world-1", "world", run, {{0, 1, 2, 3, 4, 5, 6, 7}}, {10});
  const auto w = evaluate(contract_of("  - {id: w, benchmark: allreduce, select: {scope: world}, point: {bytes: 1M}, "
                                      "metric: busbw_oop, scope: communicator, bound: {min: 80}}\n"),
                          run, {world});
  ASSERT_EQ(w.criteria[0].worst.size(), 1u);
  EXPECT_EQ(w.criteria[0].worst[0].label, "world");
  EXPECT_EQ(w.criteria[0].worst[0].round, -1);
}

TEST(CommunicatorScope, BoundedEvidenceAtTenThousandGroups) {
  const int nodes = 10000;
  const auto run = machine(nodes, 1);
  std::vector<std::vector<std::int32_t>> groups;
  std::vector<double> busbw;
  for (int n = 0; n < nodes; ++n) {
    groups.push_back({n});
    busbw.push_back(n % 40 == 7 ? 100.0 - n % 3 : 300.0);  // 250 slow nodes
  }
  const auto step = collective_step("node-1", "node", run, groups, busbw, {}, "allreduce", {1 << 20});
  const auto v = evaluate(contract_of("  - {id: n, benchmark: allreduce, select: {scope: node}, point: {bytes: 1M}, "
                                      "metric: busbw_oop, scope: communicator, outliers: {ratio: 0.9}}\n"),
                          run, {step});
  const auto& c = v.criteria[0];
  EXPECT_EQ(c.members, 10000u);
  EXPECT_DOUBLE_EQ(c.measured, 250);
  EXPECT_EQ(c.worst_total, 250u);
  ASSERT_EQ(c.worst.size(), 5u);
  // Worst first: values 98 (n % 3 == 2), ties in host order.
  EXPECT_DOUBLE_EQ(c.worst[0].value, 98);
  EXPECT_EQ(c.worst[0].label, node_name(47));
  EXPECT_LE(c.worst[0].value, c.worst[4].value);
  EXPECT_EQ(c.failing_hosts.size(), 250u);
  const std::string text = printed(v);
  EXPECT_TRUE(contains(text, "... and 245 more outliers")) << text;
  EXPECT_LT(text.size(), 2000u);
}

TEST(CommunicatorScope, BisectCulpritsAreNamed) {
  const auto run = machine(4, 2);
  auto step = testing::rank_step("bisect-1", "allreduce", {{"scope", std::string("bisect")}}, "suspect",
                                 {0, 0, 0, 0, 1, 1, 0, 0}, Better::none, "");
  const auto v = evaluate(contract_of("  - {id: w, benchmark: allreduce, select: {scope: world}, point: {bytes: 1M}, "
                                      "metric: busbw_oop, bound: {min: 1}}\n"),
                          run, {step});
  ASSERT_EQ(v.suspects.size(), 1u);
  EXPECT_EQ(v.suspects[0].text, "suspected node node02 (named by bisect step bisect-1)");
  EXPECT_EQ(v.quarantine_hosts(), (std::vector<std::string>{"node02"}));
  EXPECT_TRUE(contains(printed(v), "suspected node node02 (named by bisect step bisect-1)"));
}

TEST(CommunicatorScope, ScalingFromOneScalingStep) {
  // 8 nodes x 1 rank; the scope=scaling step ran at 2, 4 and 8 nodes.
  const auto run = machine(8, 1);
  const auto step = collective_step("scaling-1", "scaling", run, {{0, 1}, {0, 1, 2, 3}, {0, 1, 2, 3, 4, 5, 6, 7}},
                                    {100, 95, 80}, {0, 1, 2});
  const std::string head = "  - {id: s, benchmark: allreduce, select: {scope: scaling}, point: {bytes: 64M}, "
                           "metric: busbw_oop, bound: {min: 0.9}, scaling: ";
  const auto full = evaluate(contract_of(head + "{base: {nodes: 2}}}\n"), run, {step});
  EXPECT_EQ(full.criteria[0].outcome, Outcome::fail);
  EXPECT_DOUBLE_EQ(full.criteria[0].measured, 0.8);
  EXPECT_EQ(full.criteria[0].detail, "8 nodes: 80 GB/s; base 2 nodes: 100 GB/s");
  const auto four = evaluate(contract_of(head + "{base: {nodes: 2}, at: {nodes: 4}}}\n"), run, {step});
  EXPECT_EQ(four.criteria[0].outcome, Outcome::pass);
  EXPECT_DOUBLE_EQ(four.criteria[0].measured, 0.95);
  // Per node: 80/8 against 100/2.
  const auto per_node = evaluate(contract_of(head + "{base: {nodes: 2}, normalise: nodes}}\n"), run, {step});
  EXPECT_DOUBLE_EQ(per_node.criteria[0].measured, 0.2);
  // Ranks as the dimension: the groups' rank counts.
  const auto ranks = evaluate(contract_of(head + "{base: {ranks: 2}, at: {ranks: 4}}}\n"), run, {step});
  EXPECT_DOUBLE_EQ(ranks.criteria[0].measured, 0.95);
  // A missing scale is named.
  const auto missing = evaluate(contract_of(head + "{base: {nodes: 3}}}\n"), run, {step});
  EXPECT_EQ(missing.criteria[0].outcome, Outcome::fail);
  EXPECT_TRUE(contains(missing.criteria[0].note, "scales present: 2, 4, 8")) << missing.criteria[0].note;
}

TEST(CommunicatorScope, ContractValidation) {
  const std::string crit = "  - id: p\n    benchmark: allreduce\n    point: {bytes: 1M}\n    metric: busbw_oop\n"
                           "    scope: communicator\n    bound: {min: 1}\n";
  Catalog with_group{{"allreduce", {"dtype", "scope"}, {"wrong"}, {"busbw_oop"}, {"group", "round", "nodes", "bytes"}},
                     {"gemm", {"dtype"}, {"tflops"}, {}, {}},
                     {"ior", {"api"}, {}, {"bw"}, {"iteration"}}};
  EXPECT_NO_THROW(validate(contract_of(crit), with_group));
  // `pair` is the same scope.
  EXPECT_EQ(contract_of("  - {id: p, benchmark: allreduce, point: {bytes: 1M}, metric: busbw_oop, scope: pair, "
                        "bound: {min: 1}}\n")
                .criteria[0]
                .scope,
            Scope::communicator);
  // A benchmark whose points are not per communicator.
  try {
    validate(contract_of("  - id: p\n    benchmark: ior\n    point: {iteration: 0}\n    metric: bw\n"
                         "    scope: communicator\n    bound: {min: 1}\n"),
             with_group);
    FAIL() << "expected an error";
  } catch (const InputError& e) {
    const std::string what = e.what();
    EXPECT_TRUE(contains(what, "contract.yaml:7:")) << what;
    EXPECT_TRUE(contains(what, "scope communicator needs a benchmark whose points are kept per communicator")) << what;
    EXPECT_TRUE(contains(what, "point keys: iteration")) << what;
  }
  // No point.
  try {
    contract_of("  - id: p\n    benchmark: allreduce\n    metric: busbw_oop\n    scope: pair\n    bound: {min: 1}\n");
    FAIL() << "expected an error";
  } catch (const InputError& e) {
    EXPECT_TRUE(contains(e.what(), "contract.yaml:6:")) << e.what();
    EXPECT_TRUE(contains(e.what(), "name the point, e.g. point: {bytes: 64M}")) << e.what();
  }
  // reduce and scaling do not apply.
  EXPECT_THROW(contract_of("  - {id: p, benchmark: allreduce, point: {bytes: 1M}, metric: busbw_oop, scope: pair, "
                           "reduce: min, bound: {min: 1}}\n"),
               InputError);
  EXPECT_THROW(contract_of("  - {id: p, benchmark: allreduce, point: {bytes: 1M}, metric: busbw_oop, scope: pair, "
                           "bound: {min: 1}, scaling: {base: {nodes: 2}}}\n"),
               InputError);
  // Unknown scope names list the new one.
  try {
    contract_of("  - {id: p, benchmark: allreduce, point: {bytes: 1M}, metric: busbw_oop, scope: link, bound: {min: 1}}\n");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_TRUE(contains(e.what(), "communicator, pair")) << e.what();
  }
  // Waivers may name hosts of a communicator criterion.
  EXPECT_NO_THROW(contract_of(crit, "  - {criterion: p, hosts: [node01], reason: r, expires: 2099-01-01}\n"));
}

TEST(CommunicatorScope, MissingGroupColumnIsAProblemNotAPass) {
  const auto run = machine(2, 1);
  auto step = testing::sweep_step("ar-1", 2, 100);
  step.params["scope"] = std::string("node");
  const auto v = evaluate(contract_of("  - {id: p, benchmark: allreduce, point: {bytes: 1M}, metric: busbw_oop, "
                                      "scope: communicator, bound: {min: 1}}\n"),
                          run, {step});
  EXPECT_EQ(v.criteria[0].outcome, Outcome::fail);
  EXPECT_TRUE(contains(v.criteria[0].note, "has no point column 'group'")) << v.criteria[0].note;

  auto unlabelled = collective_step("node-1", "node", run, {{0}, {1}}, {100, 100});
  unlabelled.samples.clear();
  const auto u = evaluate(contract_of("  - {id: p, benchmark: allreduce, point: {bytes: 1M}, metric: busbw_oop, "
                                      "scope: communicator, bound: {min: 1}}\n"),
                          run, {unlabelled});
  EXPECT_EQ(u.criteria[0].outcome, Outcome::fail);
  EXPECT_TRUE(contains(u.criteria[0].note, "has no 'group_ranks' samples")) << u.criteria[0].note;
}

TEST(Evidence, CpuBackendNamesRanksNotGpus) {
  auto run = machine(2, 2);
  for (auto& r : run.ranks) r.device = "AMD EPYC 7763", r.uuid.clear();
  auto step = testing::rank_step("stream-1", "stream", {}, "triad", {100, 100, 50, 100}, Better::higher, "GB/s");
  step.backend = "cpu";
  const auto v = evaluate(contract_of("  - {id: s, benchmark: stream, metric: triad, bound: {min: 80}}\n"), run, {step});
  const std::string text = printed(v);
  EXPECT_TRUE(contains(text, "rank 2  host node01  cpu rank 0  AMD EPYC 7763")) << text;
  EXPECT_FALSE(contains(text, "gpu 0")) << text;
  EXPECT_EQ(describe_member(v.criteria[0], v.criteria[0].worst[0]), "rank 2  host node01  cpu rank 0  AMD EPYC 7763");
  step.backend = "cuda";
  const auto g = evaluate(contract_of("  - {id: s, benchmark: stream, metric: triad, bound: {min: 80}}\n"), run, {step});
  EXPECT_EQ(describe_member(g.criteria[0], g.criteria[0].worst[0]), "rank 2  host node01  gpu 0  AMD EPYC 7763");
}

}  // namespace
}  // namespace gpuaccept
