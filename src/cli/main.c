/* weft — the command: dispatches to the subcommands that src/cli/cmd_*.c
 * register (see weft/cli.h). */
#include <stdio.h>
#include <string.h>
#include "weft/cli.h"

static void usage(FILE *out)
{
	fprintf(out, "usage: weft <command> [options]\n\ncommands:\n");
	WEFT_REGISTRY_FOREACH(weft_cli, const weft_cli_cmd_t, c)
		if (c->summary)   /* NULL: a hidden command (test tools) */
			fprintf(out, "  %-10s %s\n", c->name, c->summary);
	fprintf(out, "\n'weft <command> --help' describes a command's options.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	WEFT_REGISTRY_FOREACH(weft_cli, const weft_cli_cmd_t, c)
		if (!strcmp(c->name, argv[1]))
			return c->run(argc - 1, argv + 1);
	fprintf(stderr, "weft: unknown command '%s' (see 'weft --help')\n", argv[1]);
	return 2;
}
