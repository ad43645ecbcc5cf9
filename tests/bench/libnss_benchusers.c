/* The benchmark's users, bench0 to bench999999, answered in constant time as an
 * indexed user database (sssd's cache, nss_db) would: pam_mfa looks every login's
 * user up, and a 100,000-line /etc/passwd would make the benchmark measure glibc's
 * file scan instead. Used only inside the benchmark's private mount namespace,
 * whose /etc/nsswitch.conf says "passwd: files benchusers". */
#include <errno.h>
#include <nss.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum nss_status _nss_benchusers_getpwnam_r(const char *name, struct passwd *pw, char *buf,
                                           size_t len, int *errnop) {
  const char *digits = name + 5;
  char *end;
  if (strncmp(name, "bench", 5) != 0 || *digits < '0' || *digits > '9' || strlen(name) > 11) {
    *errnop = ENOENT;
    return NSS_STATUS_NOTFOUND;
  }
  unsigned long n = strtoul(digits, &end, 10);
  if (*end != '\0' || n > 999999) {
    *errnop = ENOENT;
    return NSS_STATUS_NOTFOUND;
  }
  int used = snprintf(buf, len, "%s%c*%c%c/nonexistent%c/usr/sbin/nologin", name, 0, 0, 0, 0);
  if (used < 0 || (size_t)used + 1 > len) {
    *errnop = ERANGE;
    return NSS_STATUS_TRYAGAIN;
  }
  size_t name_len = strlen(name);
  pw->pw_name = buf;
  pw->pw_passwd = buf + name_len + 1;
  pw->pw_gecos = pw->pw_passwd + 2;
  pw->pw_dir = pw->pw_gecos + 1;
  pw->pw_shell = pw->pw_dir + strlen("/nonexistent") + 1;
  pw->pw_uid = 200000 + (uid_t)n;
  pw->pw_gid = 65534;
  return NSS_STATUS_SUCCESS;
}
