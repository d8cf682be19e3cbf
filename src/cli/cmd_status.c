/* weft status — asks a running `weft control` (its admin endpoint) for the
 * config generation, the last rejected config and every xDS client, and
 * prints them as a table. The server renders the tables
 * (/debug/config?format=text, /debug/clients?format=text); the JSON forms
 * of the same endpoints are for programs. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include "weft/buf.h"
#include "weft/cli.h"
#include "cli_http.h"
#include "weft/http1.h"
#include "weft/net.h"


static int run_status(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "admin", required_argument, NULL, 'a' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *admin = "127.0.0.1:15014";
	bool json = false;
	weft_buf_t cfg, cl;
	int ch, s1, s2, rc = 0;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (ch) {
		case 'a': admin = optarg; break;
		case 'j': json = true; break;
		case 'h':
			printf("usage: weft status [--admin ADDR] [--json]\n"
			       "  --admin ADDR   weft control's admin address [127.0.0.1:15014]\n"
			       "  --json         print /debug/config and /debug/clients as JSON\n");
			return 0;
		default:
			return 2;
		}
	}
	weft_buf_init(&cfg, 0);
	weft_buf_init(&cl, 0);
	s1 = weft_cli_http_get("status", admin, json ? "/debug/config" : "/debug/config?format=text", &cfg);
	s2 = s1 == 200 ? weft_cli_http_get("status", admin, json ? "/debug/clients" : "/debug/clients?format=text", &cl) : -1;
	if (s1 != 200 || s2 != 200) {
		if (s1 > 0 && s1 != 200)
			fprintf(stderr, "weft status: %s: /debug/config answered %d\n", admin, s1);
		else if (s2 > 0)
			fprintf(stderr, "weft status: %s: /debug/clients answered %d\n", admin, s2);
		rc = 1;
	} else if (json) {
		printf("{\"config\":%.*s,\"clients\":%.*s}\n", (int)weft_buf_len(&cfg) - 1,
		       (const char *)weft_buf_head(&cfg), (int)weft_buf_len(&cl) - 1,
		       (const char *)weft_buf_head(&cl));
	} else {
		fwrite(weft_buf_head(&cfg), 1, weft_buf_len(&cfg), stdout);
		printf("\n");
		fwrite(weft_buf_head(&cl), 1, weft_buf_len(&cl), stdout);
	}
	weft_buf_free(&cfg);
	weft_buf_free(&cl);
	return rc;
}

WEFT_CLI_COMMAND(status, "status", "show a running control plane's config and xDS clients", run_status);
