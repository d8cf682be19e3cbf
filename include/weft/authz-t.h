/* weft — the authorization action, shared by the config model
 * (weft/model-t.h) and the agent's view (weft/agentview-t.h). Types only. */
#ifndef WEFT_AUTHZ_T_H
#define WEFT_AUTHZ_T_H

typedef enum weft_authz_action {
	WEFT_AUTHZ_ALLOW = 0,
	WEFT_AUTHZ_DENY,
	WEFT_AUTHZ_AUDIT,
} weft_authz_action_t;

#endif
