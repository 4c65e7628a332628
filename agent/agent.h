/* upstaged as a whole: configuration, the one libuv loop, the lws context
 * with the server and client vhosts, the server, the controller link and
 * the signal handling that shuts them down in order. */
#ifndef UPSTAGE_AGENT_AGENT_H
#define UPSTAGE_AGENT_AGENT_H

/* Runs upstaged with the given command line. Returns the exit status:
 * 0 after a clean stop (SIGINT/SIGTERM), --help, --dump-config;
 * 1 when it fails at run time (cannot bind, cannot create data-dir);
 * 2 for usage and configuration errors. */
int agent_main(int argc, char **argv);

#endif
