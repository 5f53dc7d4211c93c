#include "cli/commands.h"

int main(int argc, char** argv) { return gatehouse::cli::Run(argc, argv); }
