/*
 * checkpassword_reply.c - "pop3d --checkpassword-reply": the "next
 * program" a checkpassword program runs once it accepted a login, with
 * the account's ids and its USER and HOME.  It tells pop3d, which waits
 * on the other end of descriptor 4, the name and home it was given; its
 * uid and gid travel with the message as the kernel's SCM_CREDENTIALS,
 * which pop3d reads instead of anything this process could write.
 *
 * It runs as whatever account the program chose, so it trusts nothing
 * and parses nothing: pop3d checks what arrives.  No logging, no other
 * option: main() calls this before setting anything up.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "proto.h"

int checkpassword_reply_main(void)
{
	char msg[MAX_CHECKPASSWORD_REPLY];
	const char *user = getenv("USER"), *home = getenv("HOME");
	int n;

	/* 111: the interface's "temporary problem", should pop3d look at
	 * the status of a reply it never got. */
	if (!user)
		return 111;
	if (home && *home)
		n = snprintf(msg, sizeof(msg), "USER=%s%cHOME=%s%c", user, '\0',
		    home, '\0');
	else
		n = snprintf(msg, sizeof(msg), "USER=%s%c", user, '\0');
	if (n < 0 || (size_t)n >= sizeof(msg))
		return 111;
	/* One SOCK_SEQPACKET message: pop3d sees it whole or not at all. */
	if (send(CHECKPASSWORD_FD_REPLY, msg, (size_t)n, MSG_NOSIGNAL) != n)
		return 111;
	return 0;
}
