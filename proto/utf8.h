/* Text that must be valid UTF-8 before it goes into JSON (jansson refuses
 * anything else): reasons cut to a fixed size, a hook's output. */
#ifndef UPSTAGE_PROTO_UTF8_H
#define UPSTAGE_PROTO_UTF8_H

/* Makes s valid UTF-8 in place: every byte that does not start or
 * continue a well-formed sequence (an overlong form, a surrogate, a
 * sequence cut short, by truncation or otherwise) becomes '?'. */
void ups_utf8_clean(char *s);

#endif
