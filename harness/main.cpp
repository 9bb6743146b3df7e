#include "harness/cli.hpp"

int main(int argc, char** argv) { return gpuaccept::harness::main_cli(argc, argv); }
