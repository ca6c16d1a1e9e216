/*
 * passdb_file.c - the password file back end (--auth file, the default):
 * pop3d's own file of name:hash:uid:gid:gecos:home:shell[:extra] lines,
 * crypt(3) verification with libxcrypt, and the hash work that makes a
 * failure cost the same whoever the user is.
 *
 * Runs with the privileges pop3d was started with (the privileged parent
 * in root mode): every byte from the client is hostile, and neither the
 * answer nor its time may tell whether a user name exists.  A failed
 * login therefore checks the password against one hash of every cost
 * class the file uses (passdb_file_even_out), and auth.c answers at the
 * deadline that gives.
 */
#include <crypt.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <unistd.h>

#include "proto.h"

_Static_assert(MAX_CRYPT_STRING >= CRYPT_OUTPUT_SIZE,
    "a kept hash must hold any setting libxcrypt accepts");

/* Dovecot scheme tags whose value is a crypt(3) string. */
static const char *const crypt_tags[] = {
	"CRYPT", "DES-CRYPT", "MD5-CRYPT", "SHA256-CRYPT", "SHA512-CRYPT",
	"BLF-CRYPT", "YESCRYPT", "SCRYPT", NULL
};

/* Parses a decimal id; empty is not accepted here.  Returns 0 or -1. */
static int parse_id(const char *s, unsigned long *v_r)
{
	unsigned long v = 0;

	if (*s == '\0')
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		/* uid_t is 32 bits on Linux; (uid_t)-1 means "no change". */
		if (v > (0xfffffffeUL - (unsigned long)(*s - '0')) / 10)
			return -1;
		v = v * 10 + (unsigned long)(*s - '0');
	}
	*v_r = v;
	return 0;
}

/* Strips a "{SCHEME}" tag.  Returns the crypt string, or NULL if the tag
 * names a scheme that is not a crypt(3) string. */
static const char *strip_scheme(const char *hash)
{
	const char *end;
	size_t i, len;

	if (hash[0] != '{')
		return hash;
	end = strchr(hash, '}');
	if (!end)
		return NULL;
	len = (size_t)(end - hash - 1);
	for (i = 0; crypt_tags[i]; i++)
		if (strlen(crypt_tags[i]) == len &&
		    !strncasecmp(hash + 1, crypt_tags[i], len))
			return end + 1;
	return NULL;
}

int passwd_parse_line(const char *line, unsigned lineno, struct pw_entry *e_r,
    const char **why_r)
{
	char *field[8] = { NULL };
	char *p, *word, *save = NULL;
	const char *hash;
	size_t len = strlen(line), n;
	unsigned long id;

	memset(e_r, 0, sizeof(*e_r));
	e_r->lineno = lineno;
	*why_r = NULL;

	p = (char *)line;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0' || *p == '#')
		return 0;
	if (len >= sizeof(e_r->line)) {
		*why_r = "line too long";
		return -1;
	}
	memcpy(e_r->line, line, len + 1);

	/* Seven fields split at ':'; the eighth (extra fields) is the rest. */
	p = e_r->line;
	for (n = 0; n < 8 && p; n++) {
		field[n] = p;
		if (n < 7) {
			p = strchr(p, ':');
			if (p)
				*p++ = '\0';
		}
	}
	if (!field[1]) {
		*why_r = "no password field";
		return -1;
	}
	if (!auth_valid_username(field[0])) {
		*why_r = "invalid user name";
		return -1;
	}
	e_r->name = field[0];
	e_r->home = field[5] ? field[5] : "";

	if ((field[2] && *field[2]) || (field[3] && *field[3])) {
		if (!field[2] || !field[3] || parse_id(field[2], &id)) {
			*why_r = "bad uid field";
			return -1;
		}
		e_r->uid = (uid_t)id;
		if (parse_id(field[3], &id)) {
			*why_r = "bad gid field";
			return -1;
		}
		e_r->gid = (gid_t)id;
		e_r->has_ids = 1;
	}

	if (field[7]) {
		for (word = strtok_r(field[7], " \t", &save); word;
		    word = strtok_r(NULL, " \t", &save)) {
			/* Dovecot writes userdb_ before userdb fields. */
			if (!strncmp(word, "userdb_", 7))
				word += 7;
			if (!strncmp(word, "mail=", 5)) {
				if (word[5] == '\0') {
					*why_r = "empty mail= field";
					return -1;
				}
				e_r->mail = word + 5;
			}
		}
	}

	hash = strip_scheme(field[1]);
	if (!hash) {
		/* Not malformed, just unusable here: lock, and say why. */
		*why_r = "unsupported password scheme, account locked";
		e_r->hash = "";
		e_r->locked = 1;
		return 1;
	}
	e_r->hash = hash;
	e_r->locked = hash[0] == '\0' || hash[0] == '*' || hash[0] == '!';
	return 1;
}

/*
 * Reads the next line of an administrator's file into buf (LF or CRLF
 * removed).  Returns 1 for a line, 0 at the end, -1 for a line too long
 * for buf or holding a NUL byte: that line is consumed whole and must be
 * skipped, so no part of it is ever mistaken for a line of its own.
 */
/*
 * Reads the next line of an administrator's file into buf (LF or CRLF
 * removed).  Returns 1 for a line, 0 at the end, -1 for a line too long
 * for buf or holding a NUL byte: that line is consumed whole and must be
 * skipped, so no part of it is ever mistaken for a line of its own.
 */
int conf_next_line(FILE *f, char *buf, size_t size)
{
	size_t len = 0;
	int c, nul = 0;

	/* getc, not fgets: a NUL byte must not hide where the line ends. */
	while ((c = getc(f)) != EOF && c != '\n') {
		if (c == '\0')
			nul = 1;
		if (len + 1 < size)
			buf[len] = (char)c;
		len++;
	}
	if (c == EOF && len == 0)
		return 0;
	if (len + 1 > size || nul) {
		buf[0] = '\0';
		return -1;	/* overlong or binary: skipped whole */
	}
	buf[len] = '\0';
	/* Files edited on other systems may end lines in CRLF. */
	if (len > 0 && buf[len - 1] == '\r')
		buf[--len] = '\0';
	return 1;
}

/* Schemes whose field after "$id$" is a cost parameter. */
static const char *const cost_param_ids[] = {
	"y", "gy", "2a", "2b", "2x", "2y", "sha1", NULL
};

size_t auth_hash_cost_key(const char *hash)
{
	const char *id_end, *p, *end;
	size_t idlen, i;

	if (hash[0] == '_')
		return strnlen(hash, 5);	/* BSDi: '_' and the count */
	if (hash[0] != '$')
		return 0;	/* traditional DES: one fixed cost */
	id_end = strchr(hash + 1, '$');
	if (!id_end)
		return strlen(hash);
	idlen = (size_t)(id_end - hash - 1);
	p = id_end + 1;
	if (idlen == 1 && hash[1] == '7')
		return (size_t)(p - hash) + strnlen(p, 11); /* N, r, p */
	if (idlen == 1 && (hash[1] == '5' || hash[1] == '6')) {
		if (strncmp(p, "rounds=", 7))
			return (size_t)(p - hash);	/* default rounds */
	} else {
		for (i = 0; cost_param_ids[i]; i++)
			if (strlen(cost_param_ids[i]) == idlen &&
			    !strncmp(hash + 1, cost_param_ids[i], idlen))
				break;
		/* Others ("$1$", "$md5,rounds=N$") carry their cost, if
		 * any, in the id field itself. */
		if (!cost_param_ids[i])
			return (size_t)(p - hash);
	}
	end = strchr(p, '$');
	return end ? (size_t)(end + 1 - hash) : strlen(hash);
}

/* Notes hash among the costs in use, unless its class is known. */
static void note_cost(struct hash_costs *c, const char *hash)
{
	size_t k = auth_hash_cost_key(hash), len = strlen(hash);
	unsigned i;

	if (k > MAX_CRYPT_STRING - 1)
		k = MAX_CRYPT_STRING - 1;
	for (i = 0; i < c->n; i++)
		if (c->keylen[i] == k && !memcmp(c->hash[i], hash, k))
			return;
	if (c->n == MAX_HASH_CLASSES) {
		c->overflow = 1;
		return;
	}
	if (len > MAX_CRYPT_STRING - 1)
		len = MAX_CRYPT_STRING - 1;	/* the setting is whole */
	memcpy(c->hash[c->n], hash, len);
	c->hash[c->n][len] = '\0';
	c->keylen[c->n] = k;
	c->ns[c->n] = -1;
	c->n++;
}

int passwd_scan(const char *file, const struct passwd_visitor *v)
{
	/* One extra byte to tell a full-length line from an overlong one. */
	char buf[MAX_PASSWD_LINE + 2], why_trust[1024];
	struct pw_entry *tmp;
	const char *why;
	unsigned lineno = 0;
	int r, fd, ret = 0;
	FILE *f;

	/* Whoever can write this file chooses who logs in as whom. */
	fd = trust_open(file, why_trust, sizeof(why_trust));
	if (fd < 0) {
		log_msg(LOG_ERR, "refusing password file %s: %s", file,
		    why_trust);
		return -1;
	}
	f = fdopen(fd, "r");
	if (!f) {
		log_msg(LOG_ERR, "cannot read password file %s: %s", file,
		    strerror(errno));
		close(fd);
		return -1;
	}
	tmp = malloc(sizeof(*tmp));
	if (!tmp) {
		log_msg(LOG_ERR, "out of memory");
		fclose(f);
		return -1;
	}
	while ((r = conf_next_line(f, buf, sizeof(buf))) != 0) {
		lineno++;
		if (r < 0) {
			if (v->note)
				v->note(v->arg, lineno, PASSWD_MALFORMED,
				    "line too long or binary");
			continue;
		}
		r = passwd_parse_line(buf, lineno, tmp, &why);
		if ((r < 0 || why) && v->note)
			v->note(v->arg, lineno, r < 0 ? PASSWD_MALFORMED :
			    PASSWD_LOCKED_SCHEME, why);
		if (r > 0 && v->entry)
			v->entry(v->arg, buf, tmp);
	}
	if (ferror(f)) {
		log_msg(LOG_ERR, "error reading password file %s", file);
		ret = -1;
	}
	explicit_bzero(tmp, sizeof(*tmp));
	explicit_bzero(buf, sizeof(buf));
	free(tmp);
	fclose(f);
	return ret;
}

/* passwd_lookup()'s state while passwd_scan() reads. */
struct lookup {
	const char *file, *user;
	struct pw_entry *e_r;
	struct hash_costs *costs_r;
	int found;
};

static void lookup_note(void *arg, unsigned lineno, enum passwd_note kind,
    const char *why)
{
	const struct lookup *l = arg;

	log_msg(LOG_WARNING, "password file %s line %u: %s%s", l->file, lineno,
	    why, kind == PASSWD_MALFORMED ? ", skipped" : "");
}

static void lookup_entry(void *arg, const char *line, const struct pw_entry *e)
{
	struct lookup *l = arg;
	const char *why;

	if (l->costs_r && !e->locked)
		note_cost(l->costs_r, e->hash);
	if (!l->found && !strcmp(e->name, l->user)) {
		/* Parse again into the caller's entry, so its pointers
		 * point into its own copy of the line. */
		(void)passwd_parse_line(line, e->lineno, l->e_r, &why);
		l->found = 1;
	}
}

int passwd_lookup(const char *file, const char *user, struct pw_entry *e_r,
    struct hash_costs *costs_r)
{
	struct lookup l = { file, user, e_r, costs_r, 0 };
	const struct passwd_visitor v = { lookup_entry, lookup_note, &l };

	if (costs_r) {
		costs_r->n = 0;
		costs_r->overflow = 0;
		costs_r->other_ns = -1;
	}
	/* To the end, wherever the user is: the time taken must not tell
	 * on which line (or whether) the name was found. */
	if (passwd_scan(file, &v) < 0)
		return -1;
	if (costs_r && costs_r->overflow)
		log_msg(LOG_WARNING, "password file %s uses more than %d hash "
		    "schemes and costs; failed logins of the others may take "
		    "a measurably different time", file, MAX_HASH_CLASSES);
	return l.found;
}

/* auth_check_hash(), its time added to the costs: to its class if kept. */
static int timed_check(struct hash_costs *c, const char *hash,
    const char *password)
{
	size_t k = auth_hash_cost_key(hash);
	long long t = auth_now_ns();
	unsigned i;
	int ok;

	ok = auth_check_hash(hash, password);
	t = auth_now_ns() - t;
	if (k > MAX_CRYPT_STRING - 1)
		k = MAX_CRYPT_STRING - 1;
	for (i = 0; i < c->n; i++)
		if (c->keylen[i] == k && !memcmp(c->hash[i], hash, k))
			break;
	if (i < c->n)
		c->ns[i] = t;
	else if (t > c->other_ns)
		c->other_ns = t;
	return ok;
}

int auth_login(const char *passwd_file, const char *user,
    const char *password, struct pw_entry *e_r, struct hash_costs *costs_r)
{
	int r;

	r = passwd_lookup(passwd_file, user, e_r, costs_r);
	if (r <= 0 || e_r->locked)
		return r < 0 ? -1 : 0;
	return timed_check(costs_r, e_r->hash, password);
}

long long auth_spend_fail_work(struct hash_costs *costs,
    const char *password)
{
	long long slow = -1;
	unsigned i;

	if (costs->n == 0)
		(void)timed_check(costs, auth_dummy_hash, password);
	/* The same classes for every user: what the user's own check
	 * measured is not hashed again, everything else is. */
	for (i = 0; i < costs->n; i++) {
		if (costs->ns[i] < 0)
			(void)timed_check(costs, costs->hash[i], password);
		if (costs->ns[i] > slow)
			slow = costs->ns[i];
	}
	if (costs->other_ns > slow)
		slow = costs->other_ns;
	return slow < 0 ? 0 : slow;
}


/* ------------------------------------------------------ the back end */

/* The whole file is read whatever the user; work is its hash costs. */
static int file_verify(const struct config *cfg,
    const struct passdb_request *rq, struct pw_entry *e_r, void *work,
    const char **why_r)
{
	struct hash_costs *costs = work;
	int r;

	if (rq->password) {
		r = auth_login(cfg->passwd_file, rq->user, rq->password, e_r,
		    costs);
	} else {
		/* APOP: the digest is checked; only the account is asked. */
		r = passwd_lookup(cfg->passwd_file, rq->user, e_r, costs);
		if (r > 0 && e_r->locked)
			r = 0;
	}
	if (r < 0)
		return PASSDB_TEMP;	/* logged by passwd_scan() */
	if (r == 0) {
		*why_r = "unknown user, locked entry or wrong password";
		return PASSDB_FAIL;
	}
	return PASSDB_OK;
}

static long long file_even_out(const struct config *cfg,
    const struct passdb_request *rq, void *work, long long verify_ns)
{
	(void)cfg;
	(void)verify_ns;	/* the user's own check is among the classes */
	return auth_spend_fail_work(work, rq->password ? rq->password : "");
}

const struct passdb passdb_file = {
	.name = "file",
	.verify = file_verify,
	.even_out = file_even_out,
	.can_lookup = 1,
	.work_size = sizeof(struct hash_costs),
};
