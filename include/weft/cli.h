/* weft — subcommands of the `weft` binary. Each lives in src/cli/cmd_*.c and
 * registers itself:  WEFT_CLI_COMMAND(check, "check", "validate config", run); */
#ifndef WEFT_CLI_H
#define WEFT_CLI_H
#include "weft/register.h"

typedef struct weft_cli_cmd {
	const char *name;      /* first word: "control", "check", ... */
	const char *summary;   /* one line for `weft --help` */
	/* argv[0] is the command name; returns the process exit status */
	int (*run)(int argc, char **argv);
} weft_cli_cmd_t;

#define WEFT_CLI_COMMAND(ident, name_, summary_, fn)                           \
	static const weft_cli_cmd_t weft_cli_cmd_##ident = { name_, summary_, fn }; \
	WEFT_REGISTER(weft_cli, weft_cli_cmd_##ident)

WEFT_REGISTRY_DECLARE(weft_cli);

#endif
