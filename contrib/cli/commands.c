/* The command table, its lookup and suggestions, and the help command.
 * Adding a command is one entry here plus its handler; parsing (args.c)
 * and help (help.c) follow. */
#include "contrib/cli/commands.h"

#include <string.h>

#include "contrib/cli/agent_cmds.h"
#include "contrib/cli/help.h"
#include "contrib/cli/machine_cmds.h"
#include "contrib/cli/output.h"
#include "contrib/cli/package_cmds.h"
#include "contrib/cli/rollout_cmds.h"
#include "contrib/cli/sync_cmds.h"
#include "contrib/cli/version_cmds.h"
#include "proto/binary.h"

static int help_run(struct cli_ctx *ctx);

static const struct cli_option select_options[] = {
    {"client", "C", "version of the client", true},
    {"agent", "G", "version the agents run now", true},
    {"available", "V1,V2,...",
     "comma-separated versions that can be installed (offline); without "
     "it upstaged chooses among what it stores",
     false},
    {"stream", "S",
     "upstaged's stream to choose from: " UPS_STREAM_CHOICES_TEXT,
     false},
    {NULL, NULL, NULL, false},
};

/* Indexed by enum scmd_sync_opt. */
static const struct cli_option sync_options[] = {
    {"source", "DIR|URL",
     "tarball directory, simplestreams tree, or http(s) URL of one "
     "(default $JUJU_METADATA_SOURCE, else Juju's public streams)",
     false},
    {"agent-version", "V",
     "major[.minor] (that series) or a full version with a build "
     "number (exactly it); default: auto-selected",
     false},
    {"stream", "S", UPS_STREAM_CHOICES_TEXT, false},
    {"client-version", "C",
     "client version for auto-selection (default: what `juju version` "
     "prints)",
     false},
    {"dry-run", NULL, "verify and show what would be uploaded; send nothing",
     false},
    {"retries", "N", "reconnect attempts in a row without progress (default 5)",
     false},
    {"max-rate", "MIBPS", "limit the upload rate to MIBPS MiB/s", false},
    {"parallel", "N",
     "upload N binaries at once (default: the number of cores, at most 4)",
     false},
    {"force", NULL,
     "replace a stored binary of the same version whose content differs",
     false},
    {"version", "V", "the older name of --agent-version (the seed's)",
     false},
    {"keyring", "FILE",
     "OpenPGP keyring that checks a signed source (index2.sjson)", false},
    {"allow-unsigned", NULL,
     "read a source's unsigned index (needed for the default source)",
     false},
    {NULL, NULL, NULL, false},
};

static const struct cli_option stream_option[] = {
    {"stream", "S", UPS_STREAM_NAMES_TEXT, false},
    {NULL, NULL, NULL, false},
};

static const struct cli_option remove_options[] = {
    {"stream", "S", UPS_STREAM_CHOICES_TEXT, false},
    {NULL, NULL, NULL, false},
};

/* Indexed by enum mcmd_upgrade_opt. */
static const struct cli_option upgrade_machine_options[] = {
    {"agent-version", "V", "the version to move to (e.g. 2.9.2)", true},
    {"stream", "S", UPS_STREAM_CHOICES_TEXT, false},
    {"wait", NULL, "follow the orders until every machine is done", false},
    {"wait-timeout", "SECS", "how long --wait waits (default 600)", false},
    {NULL, NULL, NULL, false},
};

/* Indexed by enum mcmd_list_opt. */
static const struct cli_option list_machines_options[] = {
    {"model", "M", "only the machines of model M", false},
    {NULL, NULL, NULL, false},
};

/* Indexed by enum mcmd_revert_opt. */
static const struct cli_option revert_machine_options[] = {
    {"wait", NULL, "follow the orders until every machine is done", false},
    {"wait-timeout", "SECS", "how long --wait waits (default 600)", false},
    {NULL, NULL, NULL, false},
};

/* The options of upgrade-controller and upgrade-model, indexed by enum
 * rcmd_upgrade_opt (upgrade-model adds RCMD_MODEL). */
#define UPGRADE_OPTIONS                                                        \
    {"agent-version", "V", "the target (a full version, e.g. 2.9.2)", false},  \
    {"client-version", "C",                                                    \
     "the client's version (default: what `juju version` prints): "            \
     "auto-selects the target when --agent-version is not given, and "         \
     "warns when older than the target",                                       \
     false},                                                                   \
    {"stream", "S", UPS_STREAM_CHOICES_TEXT, false},                           \
    {"select", "SPEC",                                                         \
     "machines to upgrade: release=R,arch=A,machines=ID+ID (default: "         \
     "every registered machine)",                                              \
     false},                                                                   \
    {"canary", "N", "canary machines per (release, arch) group (default 1)",   \
     false},                                                                   \
    {"batch", "N|P%", "machines per stage after the canaries (default 10%)",   \
     false},                                                                   \
    {"max-unavailable", "N|P%",                                                \
     "machines ordered and not yet upgraded at once (default: the batch)",     \
     false},                                                                   \
    {"failure-budget", "N|P%",                                                 \
     "failures tolerated after the canaries (default 0)", false},              \
    {"min-healthy", "DUR",                                                     \
     "how long a machine stays healthy before it counts (default 10s)",        \
     false},                                                                   \
    {"machine-deadline", "DUR",                                                \
     "a machine not healthy this long after its order times out "              \
     "(default 10m)",                                                          \
     false},                                                                   \
    {"deadline", "DUR", "the whole rollout's deadline (default none)", false}, \
    {"manual-promote", NULL,                                                   \
     "wait for upgrade-promote after the canaries", false},                    \
    {"on-budget", "pause|rollback",                                            \
     "when the failure budget is exceeded: pause (default), or roll back "     \
     "every machine moved to the target",                                      \
     false},                                                                   \
    {"dry-run", NULL, "print the plan; change nothing", false},                \
    {"wait", NULL,                                                             \
     "follow the rollout until it stops moving (exit 0 only when "             \
     "completed)",                                                             \
     false},

static const struct cli_option upgrade_controller_options[] = {
    UPGRADE_OPTIONS
    {NULL, NULL, NULL, false},
};

static const struct cli_option upgrade_model_options[] = {
    UPGRADE_OPTIONS
    {"model", "M", "the model whose machines move (its controller first)",
     true},
    {NULL, NULL, NULL, false},
};


/* Indexed by enum pcmd_opt. */
static const struct cli_option make_simplestreams_options[] = {
    {"platform", "OS/ARCH=PATH",
     "a built agent (a file, or a directory of agent files) for a Go-style "
     "platform, e.g. linux/amd64=./jujud (repeat it)",
     false},
    {"version", "V", "the agents' version (e.g. 2.9.1)", true},
    {"build-number", "N",
     "appended as the version's build (default $JUJU_BUILD_NUMBER)", false},
    {"stream", "S", UPS_STREAM_CHOICES_TEXT, false},
    {"out", "DIR",
     "the tree (default $JUJU_METADATA_SOURCE, else "
     "~/.cache/upstage/simplestreams)",
     false},
    {"bin-dir", "DIR",
     "with $AGENT_PACKAGE_PLATFORMS: DIR/OS_ARCH holds each platform's "
     "agent",
     false},
    {NULL, NULL, NULL, false},
};

/* Indexed by enum rcmd_status_opt. */
static const struct cli_option upgrade_status_options[] = {
    {"watch", NULL, "follow the rollout live until it ends", false},
    {NULL, NULL, NULL, false},
};

static const struct cli_command commands[] = {
    {
        .name = "ping",
        .synopsis = "",
        .summary = "check that upstaged answers; print the round-trip "
                   "time",
        .help = "Connects, logs in, sends Agent.Ping and prints\n"
                "\"pong RTT ms\" with the round-trip time of the "
                "request in\nmilliseconds. With --json: "
                "{\"pong\":true,\"rtt-ms\":RTT}.",
        .online = true,
        .run = acmd_ping,
    },
    {
        .name = "info",
        .synopsis = "",
        .summary = "show upstaged's version, uptime, sessions and "
                   "controller link",
        .help = "Sends Agent.Info and prints one \"key: value\" line "
                "each:\n"
                "  server-version, uptime-seconds,\n"
                "  sessions (client=N machine=N plugin=N),\n"
                "  controller-link (connected, disconnected or "
                "disabled),\n"
                "  agent-version (\"none\" when upstaged does not know "
                "it).\n"
                "With --json the response object itself.",
        .online = true,
        .run = acmd_info,
    },
    {
        .name = "parse-version",
        .synopsis = "VERSION",
        .summary = "parse a Juju version and print its canonical form",
        .help = "Prints the normalised VERSION (\"2.09\" -> "
                "\"2.9.0\"). With --json:\n"
                "  {\"version\":..,\"major\":..,\"minor\":..,"
                "\"tag\":..,\"patch\":..,\"build\":..,\n"
                "   \"stable\":BOOL}\n"
                "Accepted forms: major.minor[.patch[.build]] or\n"
                "  major.minor-tag[patch][.build], e.g. 2.9.1, "
                "2.9.1.3, 2.9, 3.0-rc2,\n  2.9-beta1.1.\n"
                "An invalid version is a usage error (exit 2). "
                "Works offline.",
        .min_args = 1,
        .max_args = 1,
        .run = vcmd_parse_version,
    },
    {
        .name = "compare-versions",
        .synopsis = "A B",
        .summary = "compare two Juju versions; print -1, 0 or 1",
        .help = "Prints -1 if A orders before B, 0 if they are "
                "equal, 1 if A\norders after B. Order: major, minor, "
                "then tag (no tag ranks\nabove any tag; tags compare "
                "as strings), then patch, then build.\n"
                "With --json: {\"a\":A,\"b\":B,\"result\":N} "
                "(A and B normalised).\n"
                "An invalid version is a usage error (exit 2). "
                "Works offline.",
        .min_args = 2,
        .max_args = 2,
        .run = vcmd_compare_versions,
    },
    {
        .name = "select-version",
        .synopsis = "",
        .summary = "pick the upgrade target by the auto-selection rules",
        .help = "Prints the version agents at G would be upgraded to "
                "by a client\nat C, given the available versions:\n"
                "  1. G.major != C.major: C, which must be available;\n"
                "  2. else among stable versions not newer than "
                "C's major.minor:\n"
                "     a. the newest of G.major.(G.minor+1), if any;\n"
                "     b. else the smallest version above G with G's "
                "major.minor;\n"
                "     c. else no version (exit 1, "
                "no-suitable-version).\n"
                "With --available the versions are those (offline); "
                "without it,\nupstaged chooses among the versions it "
                "stores in --stream\n(Versions.Select). With --json: "
                "{\"version\":V,\"rule\":R,...}, R one\nof "
                "client-version, next-minor, next-patch; online also "
                "\"stream\",\n\"candidates\" (the versions weighed, "
                "newest first). Here --agent\nis the agent version: "
                "give upstaged's URL before the command\n(upstage "
                "--agent URL select-version ...) or in UPSTAGE_AGENT.",
        .options = select_options,
        .online = true,
        .run = vcmd_select_version,
    },
    {
        .name = "sync-agent-binary",
        .synopsis = "",
        .summary = "upload agent binaries from a directory or "
                   "simplestreams tree",
        .help = "Uploads agent binaries to upstaged, verified, resumable.\n"
                "\n"
                "The source (--source, else $JUJU_METADATA_SOURCE) is either "
                "a\ndirectory of juju-<binary version>.tgz files (other files "
                "are\nignored; names that do not parse are reported and "
                "skipped), or a\nsimplestreams tree (streams/v1/index2.json "
                "or index.json): then the\nmetadata gives each file's size "
                "and SHA-256 (a file of another size is refused\nbefore "
                "anything is sent; one of another digest at the commit).\n"
                "Files are hashed while they are sent, and the digest "
                "goes with the\ncommit. A binary upstaged already stores "
                "is hashed locally and\nnot sent when it is the same; "
                "another one is a conflict unless\n--force.\n"
                "\n"
                "--agent-version 2 or 2.9 syncs every patch and build of "
                "that series;\n2.9.1.1 exactly that version; 2.9.1 is a "
                "usage error. Without it\nthe version is auto-selected from "
                "the source's versions, upstaged's\nagent-version and the "
                "client version (--client-version, or\n`juju version`), as "
                "select-version explains. Every release and\narch of the "
                "chosen version is synced.\n"
                "\n"
                "--parallel N binaries go at once over one connection "
                "(upstaged's\nmax-uploads-per-client bounds it too); a "
                "binary whose bytes are all\nsent waits for upstaged to "
                "store it without holding one of the N.\n"
                "A lost connection is resumed where upstaged's copy ends, "
                "after a\nbackoff, up to --retries times in a row. Progress "
                "goes to stderr (a\nbar per file and a total on a "
                "terminal). One result per binary on\nstdout; with --json "
                "{\"binary-version\",\"stream\",\"size\",\"sha256\",\n"
                "\"status\":\"uploaded\"|\"exists\"|\"would-upload\""
                "|\"failed\",\"sent-bytes\",\n\"resumed-from\"} (failed "
                "ones add \"error-code\" and \"error\").\n"
                "Exit 0 only when every selected binary is stored or "
                "already was;\n1 when one failed (refused file, conflict, "
                "no space...); 2 on a usage\nerror (bad --agent-version, "
                "no client version); 3 when upstaged\ncannot be reached "
                "or refuses the login.",
        .options = sync_options,
        .online = true,
        .run = scmd_sync,
    },
    {
        .name = "make-simplestreams",
        .synopsis = "",
        .summary = "package built agents as a simplestreams tree",
        .help = "Packages each --platform's agent as\n"
                "juju-<version>[.<build>]-<release>-<arch>.tgz (linux -> "
                "ubuntu,\ndarwin/macos -> osx, ppc64le -> ppc64el) "
                "under DIR/tools/<stream>/\nand rewrites DIR/tools/streams/v1 "
                "with what DIR holds\n(the writer upstaged publishes with). "
                "The same binary version with\nother bytes is refused, "
                "naming both SHA-256s. Prints what it built and,\nlast, "
                "export JUJU_METADATA_SOURCE=\"DIR\" (sync-agent-binary "
                "--source\ntakes DIR or DIR/tools).",
        .options = make_simplestreams_options,
        .repeatable = "platform",
        .run = pcmd_make,
    },
    {
        .name = "list-agent-binaries",
        .synopsis = "",
        .summary = "list the agent binaries upstaged stores",
        .help = "Prints a table of binary version, stream, size, "
                "SHA-256 prefix and\nstorage time, in upstaged's "
                "order (stream, then version order,\nrelease, arch). "
                "With --json the array of records:\n"
                "  {\"binary-version\",\"version\",\"release\","
                "\"arch\",\"stream\",\"size\",\n"
                "   \"sha256\",\"stored-at\"}.",
        .options = stream_option,
        .online = true,
        .run = scmd_list,
    },
    {
        .name = "remove-agent-binary",
        .synopsis = "BINARY-VERSION",
        .summary = "delete a stored agent binary",
        .help = "Deletes BINARY-VERSION (e.g. 2.9.1-ubuntu-amd64) from "
                "the stream\n(default released). A binary upstaged "
                "does not have is exit 1,\nnot-found.",
        .options = remove_options,
        .min_args = 1,
        .max_args = 1,
        .online = true,
        .run = scmd_remove,
    },
    {
        .name = "list-machines",
        .synopsis = "",
        .summary = "list the machine agents upstaged knows",
        .help = "Prints one line per machine, sorted by id (digits as "
                "numbers):\n"
                "machine id, release, arch, version, state (idle outside "
                "an order;\nlost when not heard from for "
                "machine-lost-after), last seen, connected,\nand the "
                "reason of a failed order. With --json the array of "
                "records:\n"
                "  {\"machine-id\",\"release\",\"arch\",\"version\","
                "\"state\",\"reported-state\",\n"
                "   \"last-seen\",\"connected\",\"lost\",\"progress\","
                "\"reason\",\"order\",\n   \"model\",\"rollout\"}. "
                "--model M keeps that model's machines.",
        .options = list_machines_options,
        .online = true,
        .run = mcmd_list,
    },
    {
        .name = "upgrade-machine",
        .synopsis = "ID...",
        .summary = "order machines to move to an agent version",
        .help = "Orders each machine ID to the stored binary "
                "<version>-<release>-<arch>\n"
                "of its own release and arch (a series such as focal "
                "also takes the\nbinary stored under its OS, ubuntu). "
                "A request orders nothing unless\nevery machine in it "
                "has its binary: otherwise exit 1, not-found, naming\n"
                "what is missing. A machine carrying out another order "
                "is\nupgrade-in-progress. Up to 1024 IDs go 64 to a "
                "request, one after the\nother; a request refused leaves "
                "the earlier ones ordered and says how many.\n"
                "--wait follows the orders (Machines.Progress) until each "
                "machine ends:\nexit 0 when all are healthy, 1 "
                "otherwise. With --json one object a line.",
        .options = upgrade_machine_options,
        .min_args = 1,
        .max_args = CLI_MAX_ARGS,
        .online = true,
        .run = mcmd_upgrade,
    },
    {
        .name = "revert-machine",
        .synopsis = "ID...",
        .summary = "order machines back to the version before their last "
                   "upgrade",
        .help = "Orders each machine ID back to the binary version it ran "
                "before its\nlast upgrade, which must have ended healthy "
                "(else exit 1, conflict).\nThe machine keeps that version "
                "on disk: nothing is downloaded.\n--wait as for "
                "upgrade-machine; success is reverted. IDs as for\n"
                "upgrade-machine.",
        .options = revert_machine_options,
        .min_args = 1,
        .max_args = CLI_MAX_ARGS,
        .online = true,
        .run = mcmd_revert,
    },
    {
        .name = "upgrade-controller",
        .synopsis = "",
        .summary = "upgrade the controller's machines in stages",
        .help = "Starts a staged rollout (PROTOCOL.md \"Rollouts\"): a "
                "canary per (release, arch)\ngroup, then batches, each "
                "machine counted once healthy for --min-healthy.\n"
                "A failing canary, or more failures than the budget, "
                "pauses it.\nDurations: 90s, 5m, 1h, 500ms. Prints the "
                "plan and the rollout id.\nRefused (exit 1) when a group "
                "has no stored binary of the target\n(not-found, naming "
                "them) or another rollout is active\n(upgrade-in-progress). "
                "--wait exits 0 when it completes, 1 when it\nends "
                "otherwise or stops in paused or awaiting-promotion.",
        .options = upgrade_controller_options,
        .online = true,
        .run = rcmd_upgrade,
    },
    {
        .name = "upgrade-model",
        .synopsis = "",
        .summary = "upgrade one model's machines in stages",
        .help = "As upgrade-controller, for the machines registered in "
                "model M\n(upstage-machine --model M). Never past the "
                "controller's agent\nversion: a newer target is refused "
                "(conflict: upgrade the controller\nfirst); "
                "auto-selection from --client-version is capped there "
                "too.",
        .options = upgrade_model_options,
        .online = true,
        .run = rcmd_upgrade,
    },
    {
        .name = "upgrade-status",
        .synopsis = "[ID]",
        .summary = "show a rollout: state, counts, stage, failures, ETA",
        .help = "Without ID: the active rollout, else the latest. --watch "
                "prints a line\neach time its counts move, and every "
                "failure, until it ends.\nWith --json the Rollouts.Status "
                "answer (and the Event pushes).",
        .options = upgrade_status_options,
        .max_args = 1,
        .online = true,
        .run = rcmd_status,
    },
    {
        .name = "upgrade-promote",
        .synopsis = "[ID]",
        .summary = "go on after the canaries (--manual-promote)",
        .help = "Moves a rollout awaiting promotion to its batches; "
                "conflict otherwise.",
        .max_args = 1,
        .online = true,
        .run = rcmd_promote,
    },
    {
        .name = "upgrade-pause",
        .synopsis = "[ID]",
        .summary = "stop ordering machines; those in flight finish",
        .help = "Pauses a rollout in its canary or batch stages.",
        .max_args = 1,
        .online = true,
        .run = rcmd_pause,
    },
    {
        .name = "upgrade-resume",
        .synopsis = "[ID]",
        .summary = "go on with a paused rollout, retrying its failures",
        .help = "Resumes a paused rollout where it stopped; machines that "
                "failed or\ntimed out are ordered again.",
        .max_args = 1,
        .online = true,
        .run = rcmd_resume,
    },
    {
        .name = "upgrade-abort",
        .synopsis = "[ID]",
        .summary = "end a rollout: no new orders; those in flight finish",
        .help = "Aborts the rollout: aborting while ordered machines "
                "finish, then\naborted. Nothing is rolled back.",
        .max_args = 1,
        .online = true,
        .run = rcmd_abort,
    },
    {
        .name = "upgrade-rollback",
        .synopsis = "[ID]",
        .summary = "order every upgraded machine back to its previous "
                   "version",
        .help = "From paused, awaiting-promotion, rolling or completed "
                "(without ID: the\nactive rollout, else the latest): no "
                "new upgrades, machines in flight\nfinish, then every "
                "machine that reached the target is ordered back to\nthe "
                "version it ran before (journaled when it was planned), in "
                "batches\nof max-unavailable; a machine that fails to "
                "revert is listed\n(revert-failed). Ends rolled-back.",
        .max_args = 1,
        .online = true,
        .run = rcmd_rollback,
    },
    {
        .name = "help",
        .synopsis = "[COMMAND]",
        .summary = "list the commands, or show one command's syntax",
        .help = "Without COMMAND: the commands, global flags and exit "
                "codes.\nWith COMMAND: its full syntax (the same as "
                "upstage COMMAND --help).",
        .max_args = 1,
        .run = help_run,
    },
};

#define COMMAND_COUNT (sizeof(commands) / sizeof(commands[0]))

const struct cli_command *cli_cmd_table(size_t *n)
{
	*n = COMMAND_COUNT;
	return commands;
}

const struct cli_command *cli_cmd_find(const char *name)
{
	for (size_t i = 0; i < COMMAND_COUNT; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

int cli_cmd_option_index(const struct cli_command *cmd, const char *name)
{
	for (int i = 0; cmd->options && cmd->options[i].name; i++)
		if (strcmp(cmd->options[i].name, name) == 0)
			return i;
	return -1;
}

#define DISTANCE_MAX_LEN 64

size_t cli_edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t row[DISTANCE_MAX_LEN + 1];

	if (la > DISTANCE_MAX_LEN || lb > DISTANCE_MAX_LEN)
		return (size_t)-1;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

const char *cli_cmd_suggest(const char *name)
{
	const char *best = NULL;
	size_t best_d = 3;

	for (size_t i = 0; i < COMMAND_COUNT; i++) {
		size_t d = cli_edit_distance(name, commands[i].name);

		/* A prefix like "compare" or "select" is a likely slip too. */
		if (strncmp(commands[i].name, name, strlen(name)) == 0 &&
		    strlen(name) >= 3)
			d = 1;
		if (d < best_d) {
			best_d = d;
			best = commands[i].name;
		}
	}
	if (best && best_d >= strlen(name))
		return NULL;
	return best;
}

static int help_run(struct cli_ctx *ctx)
{
	const struct cli_command *cmd;
	const char *hint;

	if (ctx->nargs == 0) {
		cli_help_print_overview(ctx->out, commands, COMMAND_COUNT);
		return CLI_EXIT_OK;
	}
	cmd = cli_cmd_find(ctx->args[0]);
	if (!cmd) {
		hint = cli_cmd_suggest(ctx->args[0]);
		if (hint)
			return cli_out_usage(ctx,
			                     "unknown command \"%.32s\" (did "
			                     "you mean %s?)",
			                     ctx->args[0], hint);
		return cli_out_usage(ctx, "unknown command \"%.32s\"",
		                     ctx->args[0]);
	}
	cli_help_print_command(ctx->out, cmd);
	return CLI_EXIT_OK;
}
