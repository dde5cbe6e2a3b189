// cli.h: the mptrain command line (CLI11): flags, subcommands, --help text with examples, and the
// dispatch to the commands of app/commands.h. Usage errors are thrown as mp::ConfigError (exit 2).
#pragma once

namespace mp {

// Parses argv, loads the spec where the command needs one, runs the command; returns its exit
// code. Throws mp::Error (and whatever a command throws) for main() to report.
int run_cli(int argc, char** argv);

}  // namespace mp
