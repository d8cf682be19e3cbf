/* weft version — prints the build's version. */
#include <stdio.h>
#include "weft/cli.h"

#ifndef WEFT_VERSION
#define WEFT_VERSION "0.1.0-dev"
#endif

static int run_version(int argc, char **argv)
{
	printf("weft %s\n", WEFT_VERSION);
	return 0;
}

WEFT_CLI_COMMAND(version, "version", "print weft's version", run_version);
