/* A login host as sshd, sudo, login and su are: a C program that links libpam and
 * libc and nothing else, so whatever else a module needs (libgcc_s, libstdc++...)
 * is loaded at its pam_start and unloaded at its pam_end, as it is there. The
 * Rust harness (tests/src/bin/pam_driver.rs) cannot show that cost: Rust links
 * libgcc_s into every program. Used by bench.py for the fixed cost per login.
 *
 *   pam_host SERVICE USERS_FILE ITERATIONS ANSWER
 *
 * One thread; each iteration is pam_start → pam_authenticate → pam_end for the
 * next user of USERS_FILE, every prompt answered with ANSWER and the failure
 * delay left out. Prints the line pam_driver's bench prints (its fields that
 * apply here): logins= ok= seconds= per_second= median_us= p90_us=
 *
 *   pam_host round-trip ITERATIONS
 *
 * The floor under any module that asks a local service: a child process accepts
 * on a Unix stream socket, reads a request and answers 64 bytes; each iteration
 * connects, sends 320 bytes (about a login's request), reads the answer and
 * closes. Prints the same line. */
#define _GNU_SOURCE
#include <security/pam_appl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *answer;

static int conversation(int n, const struct pam_message **msg, struct pam_response **resp, void *data)
{
    (void)data;
    struct pam_response *out = calloc((size_t)n, sizeof *out);
    if (!out)
        return PAM_CONV_ERR;
    for (int i = 0; i < n; i++)
        if (msg[i]->msg_style == PAM_PROMPT_ECHO_OFF || msg[i]->msg_style == PAM_PROMPT_ECHO_ON)
            out[i].resp = strdup(answer);
    *resp = out;
    return PAM_SUCCESS;
}

static void no_delay(int status, unsigned usec, void *data)
{
    (void)status, (void)usec, (void)data;
}

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void report(double *times, long iterations, long ok, double seconds)
{
    qsort(times, (size_t)iterations, sizeof *times, by_value);
    printf("logins=%ld ok=%ld seconds=%.3f per_second=%.1f median_us=%.1f p90_us=%.1f\n", iterations, ok,
           seconds, iterations / seconds, times[iterations / 2], times[iterations * 9 / 10]);
}

static int round_trip(long iterations)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    /* An abstract address: no file to clean up. */
    int len = snprintf(addr.sun_path + 1, sizeof addr.sun_path - 1, "pam_host-%d", (int)getpid());
    socklen_t size = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len);
    int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listener < 0 || bind(listener, (struct sockaddr *)&addr, size) || listen(listener, 16)) {
        perror("round-trip socket");
        return 2;
    }
    char request[320] = {0}, reply[64] = {0};
    pid_t child = fork();
    if (child == 0) {
        for (long i = 0; i < iterations; i++) {
            int c = accept(listener, NULL, NULL);
            if (c < 0 || read(c, request, sizeof request) <= 0 || write(c, reply, sizeof reply) != sizeof reply)
                _exit(1);
            close(c);
        }
        _exit(0);
    }
    double *times = malloc((size_t)iterations * sizeof *times);
    long ok = 0;
    double start = now_us();
    for (long i = 0; i < iterations; i++) {
        double t0 = now_us();
        int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c >= 0 && connect(c, (struct sockaddr *)&addr, size) == 0 &&
            write(c, request, sizeof request) == sizeof request && read(c, reply, sizeof reply) > 0)
            ok++;
        close(c);
        times[i] = now_us() - t0;
    }
    double seconds = (now_us() - start) / 1e6;
    int status = 0;
    waitpid(child, &status, 0);
    report(times, iterations, ok, seconds);
    return ok == iterations && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "round-trip") == 0)
        return round_trip(strtol(argv[2], NULL, 10));
    if (argc != 5) {
        fprintf(stderr, "usage: pam_host SERVICE USERS_FILE ITERATIONS ANSWER\n");
        return 2;
    }
    answer = argv[4];
    long iterations = strtol(argv[3], NULL, 10);
    FILE *f = fopen(argv[2], "r");
    if (!f || iterations <= 0) {
        perror(argv[2]);
        return 2;
    }
    char **users = NULL, *line = NULL;
    size_t count = 0, cap = 0;
    while (getline(&line, &cap, f) > 0) {
        line[strcspn(line, "\n")] = 0;
        users = realloc(users, (count + 1) * sizeof *users);
        users[count++] = strdup(line);
    }
    fclose(f);
    if (!count)
        return 2;
    double *times = malloc((size_t)iterations * sizeof *times);
    long ok = 0;
    struct pam_conv conv = {conversation, NULL};
    double start = now_us();
    for (long i = 0; i < iterations; i++) {
        pam_handle_t *pamh = NULL;
        double t0 = now_us();
        int rc = pam_start(argv[1], users[i % count], &conv, &pamh);
        if (rc == PAM_SUCCESS) {
            pam_set_item(pamh, PAM_FAIL_DELAY, (const void *)no_delay);
            rc = pam_authenticate(pamh, 0);
            pam_end(pamh, rc);
        }
        times[i] = now_us() - t0;
        ok += rc == PAM_SUCCESS;
    }
    report(times, iterations, ok, (now_us() - start) / 1e6);
    return 0;
}
