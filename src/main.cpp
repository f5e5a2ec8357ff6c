// placeholder while the transport and core land
#include <cstdio>
#include "config.hpp"
#include "logging.hpp"
using namespace replicator::program;
int main(int argc, char** argv) {
  auto cli = parse_command_line(argc, argv);
  if (!cli) { Logger log; log.error(cli.error().describe()); return kExitConfig; }
  if (cli->help) { std::fputs(usage_text().c_str(), stdout); return 0; }
  auto cfg = load_config(*cli, process_environment());
  if (!cfg) { Logger log; log.error(cfg.error().describe(), {{"key", cfg.error().key}}); return kExitConfig; }
  std::fputs(describe_config(*cfg).c_str(), stdout);
  return 0;
}
