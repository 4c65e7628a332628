/* Help text generated from the command and flag tables; see help.h. */
#include "contrib/cli/help.h"

#include <ctype.h>
#include <string.h>

#include "contrib/cli/flags.h"

#define HELP_WIDTH  79
#define HELP_INDENT 25

/* "  left    right", with right wrapped at word boundaries so help fits an
 * 80-column terminal. */
static void print_two_columns(FILE *f, const char *left, const char *right)
{
	const size_t room = HELP_WIDTH - HELP_INDENT;
	size_t len, cut;

	fprintf(f, "  %-22s ", left);
	if (strlen(left) > 22)
		fprintf(f, "\n%*s", HELP_INDENT, "");
	for (;;) {
		len = strlen(right);
		if (len <= room) {
			fprintf(f, "%s\n", right);
			return;
		}
		for (cut = room; cut > 0 && right[cut] != ' '; cut--)
			;
		if (cut == 0)
			cut = room;
		fprintf(f, "%.*s\n%*s", (int)cut, right, HELP_INDENT, "");
		right += cut;
		while (*right == ' ')
			right++;
	}
}

/* Appends word to the usage line, wrapping before HELP_WIDTH. */
static void usage_word(FILE *f, size_t *col, const char *word)
{
	size_t len = strlen(word);

	if (*col + 1 + len > HELP_WIDTH) {
		fputs("\n       ", f);
		*col = 7;
	}
	fprintf(f, " %s", word);
	*col += 1 + len;
}

void cli_help_print_usage(FILE *f, const struct cli_command *cmd)
{
	char word[96];
	size_t col;

	fprintf(f, "Usage: upstage %s", cmd->name);
	col = strlen("Usage: upstage ") + strlen(cmd->name);
	if (cmd->synopsis && *cmd->synopsis)
		usage_word(f, &col, cmd->synopsis);
	for (size_t i = 0; cmd->options && cmd->options[i].name; i++) {
		const struct cli_option *o = &cmd->options[i];

		snprintf(word, sizeof(word), "%s--%s%s%s%s",
		         o->required ? "" : "[", o->name, o->value ? " " : "",
		         o->value ? o->value : "", o->required ? "" : "]");
		usage_word(f, &col, word);
	}
	if (cmd->online)
		usage_word(f, &col, "[FLAGS]");
	fputc('\n', f);
}

static void print_flags(FILE *f)
{
	const struct cli_flag *fl;
	char left[64];
	size_t n;

	fl = cli_flag_table(&n);
	for (size_t i = 0; i < n; i++) {
		snprintf(left, sizeof(left), "--%s%s%s", fl[i].name,
		         fl[i].value ? " " : "",
		         fl[i].value ? fl[i].value : "");
		print_two_columns(f, left, fl[i].help);
	}
	print_two_columns(f, "-h, --help",
	                  "show help (with a command: its own)");
	print_two_columns(f, "--version", "print upstage's version");
}

static void print_exit_codes(FILE *f)
{
	fputs("Exit status: 0 success; 1 the operation failed; 2 usage error "
	      "(including\nan invalid version); 3 cannot connect or "
	      "authenticate.\n",
	      f);
}

void cli_help_print_overview(FILE *f, const struct cli_command *cmds, size_t n)
{
	fputs("upstage: operator client for upstaged, the controller-side "
	      "agent binary\nand upgrade service.\n\n"
	      "Usage: upstage [FLAGS] COMMAND [ARGS] [FLAGS]\n\nCommands:\n",
	      f);
	for (size_t i = 0; i < n; i++)
		print_two_columns(f, cmds[i].name, cmds[i].summary);
	fputs("\nFlags (before or after the command):\n", f);
	print_flags(f);
	fputc('\n', f);
	print_exit_codes(f);
	fputs("\nRun 'upstage help COMMAND' for a command's full syntax.\n", f);
}

void cli_help_print_command(FILE *f, const struct cli_command *cmd)
{
	char left[64];

	cli_help_print_usage(f, cmd);
	fprintf(f, "\n%c%s.\n\n%s\n", toupper((unsigned char)cmd->summary[0]),
	        cmd->summary + 1, cmd->help);
	if (cmd->options) {
		fputs("\nOptions:\n", f);
		for (size_t i = 0; cmd->options[i].name; i++) {
			snprintf(left, sizeof(left), "--%s%s%s",
			         cmd->options[i].name,
			         cmd->options[i].value ? " " : "",
			         cmd->options[i].value ? cmd->options[i].value
			                               : "");
			print_two_columns(f, left, cmd->options[i].help);
		}
	}
	if (cmd->online) {
		fputs("\nFlags:\n", f);
		print_flags(f);
	} else {
		fputs("\nFlags: --json; -h, --help.\n", f);
	}
	fputc('\n', f);
	print_exit_codes(f);
}
