/* A user database that ignores case, as sssd with case_sensitive = false, winbind
 * and AD-backed LDAP do: getpwnam("ALICE") finds alice's entry in /etc/passwd and
 * answers with her own name. For tests only, in a private mount namespace whose
 * /etc/nsswitch.conf says "passwd: anycase" (loaded from LD_LIBRARY_PATH). */
#include <errno.h>
#include <nss.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

enum nss_status _nss_anycase_getpwnam_r(const char *name, struct passwd *pw, char *buf,
                                        size_t len, int *errnop) {
  FILE *f = fopen("/etc/passwd", "re");
  if (!f) {
    *errnop = errno;
    return NSS_STATUS_UNAVAIL;
  }
  struct passwd *found = NULL;
  struct passwd *entry;
  while ((entry = fgetpwent(f)) != NULL) {
    if (strcasecmp(entry->pw_name, name) == 0) {
      found = entry;
      break;
    }
  }
  enum nss_status status = NSS_STATUS_NOTFOUND;
  *errnop = ENOENT;
  if (found) {
    const char *fields[] = {found->pw_name, found->pw_passwd, found->pw_gecos, found->pw_dir,
                            found->pw_shell};
    char **slots[] = {&pw->pw_name, &pw->pw_passwd, &pw->pw_gecos, &pw->pw_dir, &pw->pw_shell};
    size_t used = 0;
    status = NSS_STATUS_SUCCESS;
    for (int i = 0; i < 5; i++) {
      size_t n = strlen(fields[i]) + 1;
      if (used + n > len) {
        *errnop = ERANGE;
        status = NSS_STATUS_TRYAGAIN;
        break;
      }
      memcpy(buf + used, fields[i], n);
      *slots[i] = buf + used;
      used += n;
    }
    pw->pw_uid = found->pw_uid;
    pw->pw_gid = found->pw_gid;
  }
  fclose(f);
  return status;
}
