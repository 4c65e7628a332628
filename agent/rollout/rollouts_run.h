/* What the runner (rollouts.c) lends rollouts_begin.c, which plans a new
 * rollout: its clock, whether hooks gate stages, whether a new rollout
 * may start, and taking the plan over. Loop thread only; nothing outside
 * agent/rollout includes this. */
#ifndef UPSTAGE_AGENT_ROLLOUT_ROLLOUTS_RUN_H
#define UPSTAGE_AGENT_ROLLOUT_ROLLOUTS_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/rollout/rollouts.h"

/* Milliseconds of the runner's clock (cfg.now_ms, else the wall clock). */
int64_t rollouts_now(const struct rollouts *rs);

/* Whether a hook plugin is loaded (stages then wait for before-stage). */
bool rollouts_hooked(const struct rollouts *rs);

/* 0 when a new rollout may start now; else UPS_ERR_UPGRADE_IN_PROGRESS
 * (one is active) or UPS_ERR_BUSY (the last one's end is not durable
 * yet; its write is asked for), with err saying which. */
int rollouts_ready(struct rollouts *rs, char *err, size_t errlen);

/* Makes plan the current rollout and steps it to its start; cb (with
 * data) once that is durable. plan is taken, even on error (then
 * freed). 0, or UPS_ERR_NO_MEMORY: not adopted if the member index could
 * not be made; adopted but cb never called if the wait could not be
 * queued (err says which). */
int rollouts_adopt(struct rollouts *rs, struct rollout *plan,
                   const char *rule, rollouts_cb cb, void *data, char *err,
                   size_t errlen);

#endif
