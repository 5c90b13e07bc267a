/* The bench's load generator: many MQTT 5 connections (one per device account) in one
 * thread, driven by poll(2) over libmosquitto's non-blocking calls, so the generator costs a
 * fraction of a core while the broker, the workers and PostgreSQL share the rest.
 *
 *   loader load PORT DEVICES CONSOLES PLAN PREFIX T0 [MOVERS]
 *       devices publish SightingReports (QoS 1, TCP_NODELAY, pipelined) at each plan step's
 *       rate and read their own receipts; police consoles read alerts; movers (volunteer
 *       accounts) publish their positions (QoS 1) at a step's location rate. One JSON line
 *       per event on stdout (ready, step_start, step_end, done).
 *   loader echo PORT USERNAME PASSWORD
 *       the trivial fast consumer of the broker's ceiling: joins the workers' share group
 *       and answers each report at once with an `accepted` receipt (no database).
 *   loader positions PORT VOLUNTEERS CONCURRENCY
 *       each volunteer account connects, publishes its position (QoS 1) and leaves.
 *
 * Report ids are UUIDs: a per-run prefix and the report's sequence number in the last 12 hex
 * digits, so a receipt finds its report by index. observed_at is T0 + seq microseconds: an
 * alert carries the observed time of the sighting that caused it, which finds its report.
 *
 * A fixed step the system cannot follow (held back, or not drained) skips the higher fixed
 * steps, unless BENCH_ALL_STEPS is set.
 *
 * Files are whitespace-separated lines:
 *   DEVICES    username password lon lat station_id|-     (a station id: a kiosk, fixed)
 *   CONSOLES   username password                         (police station consoles)
 *   VOLUNTEERS username password payload-json-without-spaces
 *   MOVERS     username password lon lat                  (volunteers on the move)
 *   PLAN       name rate_per_s duration_s drain_s max_outstanding [locations_per_s]
 *              (rate 0: closed loop)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { KIND_DEVICE, KIND_CONSOLE, KIND_VOLUNTEER, KIND_ECHO, KIND_MOVER };
enum { ST_NEW, ST_CONNECTING, ST_CONNECTED, ST_READY, ST_PUBLISHED, ST_DONE, ST_FAILED };

typedef struct {
    struct mosquitto *m;
    char user[72], pass[72], station[24];
    char *payload; /* volunteers: their location message */
    double lon, lat;
    int kind, state, sub_mid;
} conn_t;

typedef struct {
    double *v;
    size_t n, cap;
} vec_t;

typedef struct {
    char name[32];
    double rate, duration, drain, loc_rate;
    long max_outstanding, loc_published, loc_puback_ok, loc_puback_refused;
    long first_seq, published, puback_ok, puback_refused, publish_errors;
    long receipted, receipts_total, accepted, duplicate, rejected, other;
    long alerts, alerts_case, alerts_unmatched;
    double t_start, t_pub_end, t_last_receipt, t_end, held_s;
    int drained, held;
    vec_t lat, alert_lat;
} step_t;

static int port;
static conn_t *conns;
static int nconns;
static step_t *steps;
static int nsteps, cur = -1;
static char prefix[40];
static long long t0;
static double *pub_t;
static unsigned char *seq_step, *nrec, *nacc;
static long nseq, cap_seq;
static long multi_accepted, foreign_receipts, connection_losses;
static volatile sig_atomic_t stop_flag;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what) {
    printf("{\"event\":\"error\",\"message\":\"%s\"}\n", what);
    fflush(stdout);
    exit(2);
}

static void vec_push(vec_t *v, double x) {
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 1024;
        v->v = realloc(v->v, v->cap * sizeof(double));
        if (!v->v) die("out of memory");
    }
    v->v[v->n++] = x;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void print_percentiles(const char *key, vec_t *v) {
    if (v->n == 0) {
        printf(",\"%s\":null", key);
        return;
    }
    qsort(v->v, v->n, sizeof(double), cmp_double);
    double q[3] = {0.5, 0.9, 0.99};
    double r[3];
    for (int i = 0; i < 3; i++) {
        size_t k = (size_t)(q[i] * (double)(v->n - 1) + 0.5);
        r[i] = v->v[k];
    }
    printf(",\"%s\":{\"n\":%zu,\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f}", key, v->n,
           r[0], r[1], r[2], v->v[v->n - 1]);
}

static void grow_seq(long need) {
    if (need <= cap_seq) return;
    long cap = cap_seq ? cap_seq : 65536;
    while (cap < need) cap *= 2;
    pub_t = realloc(pub_t, cap * sizeof(double));
    seq_step = realloc(seq_step, cap);
    nrec = realloc(nrec, cap);
    nacc = realloc(nacc, cap);
    if (!pub_t || !seq_step || !nrec || !nacc) die("out of memory");
    memset(nrec + cap_seq, 0, cap - cap_seq);
    memset(nacc + cap_seq, 0, cap - cap_seq);
    cap_seq = cap;
}

/* ------------------------------------------------------------------ parsing messages */

static const char *json_string(const char *buf, int len, const char *key, int *out_len) {
    char pat[48];
    int plen = snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *p = memmem(buf, len, pat, plen);
    if (!p) return NULL;
    p += plen;
    const char *e = memchr(p, '"', buf + len - p);
    if (!e) return NULL;
    *out_len = (int)(e - p);
    return p;
}

static long seq_of_report_id(const char *id, int len) {
    int plen = (int)strlen(prefix);
    if (len != plen + 12 || memcmp(id, prefix, plen) != 0) return -1;
    char hex[13];
    memcpy(hex, id + plen, 12);
    hex[12] = 0;
    long seq = strtol(hex, NULL, 16);
    return seq < nseq ? seq : -1;
}

static long seq_of_observed_at(const char *s, int len) {
    struct tm tm = {0};
    char tmp[40];
    if (len <= 0 || len >= (int)sizeof tmp) return -1;
    memcpy(tmp, s, len);
    tmp[len] = 0;
    if (sscanf(tmp, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec) != 6)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    long long secs = (long long)timegm(&tm);
    long usec = 0;
    if (len > 19 && tmp[19] == '.') {
        int digits = 0;
        for (int i = 20; i < len && tmp[i] >= '0' && tmp[i] <= '9' && digits < 6; i++, digits++)
            usec = usec * 10 + (tmp[i] - '0');
        for (; digits < 6; digits++) usec *= 10;
    }
    long long seq = (secs - t0) * 1000000LL + usec;
    return (seq >= 0 && seq < nseq) ? (long)seq : -1;
}

/* ------------------------------------------------------------------ callbacks */

static void on_connect(struct mosquitto *m, void *ud, int rc, int flags,
                       const mosquitto_property *props) {
    (void)flags;
    (void)props;
    conn_t *c = ud;
    if (rc != 0) {
        fprintf(stderr, "connect refused for %s: %s\n", c->user, mosquitto_reason_string(rc));
        c->state = ST_FAILED;
        return;
    }
    c->state = ST_CONNECTED;
    if (c->kind == KIND_VOLUNTEER) {
        char topic[128];
        snprintf(topic, sizeof topic, "sr/v1/volunteers/%s/location", c->user);
        mosquitto_publish_v5(m, NULL, topic, (int)strlen(c->payload), c->payload, 1, false, NULL);
        c->state = ST_PUBLISHED;
    }
}

static long positions_ok, positions_refused;

static void on_publish(struct mosquitto *m, void *ud, int mid, int reason, const mosquitto_property *p) {
    (void)mid;
    (void)p;
    conn_t *c = ud;
    if (c->kind == KIND_VOLUNTEER) {
        if (reason < 0x80) positions_ok++;
        else positions_refused++;
        mosquitto_disconnect_v5(m, 0, NULL);
        c->state = ST_DONE;
        return;
    }
    if (c->kind == KIND_DEVICE && cur >= 0) {
        if (reason < 0x80) steps[cur].puback_ok++;
        else steps[cur].puback_refused++;
    }
    if (c->kind == KIND_MOVER && cur >= 0) {
        if (reason < 0x80) steps[cur].loc_puback_ok++;
        else steps[cur].loc_puback_refused++;
    }
}

static void on_subscribe(struct mosquitto *m, void *ud, int mid, int n, const int *granted) {
    (void)m;
    (void)mid;
    conn_t *c = ud;
    if (n < 1 || granted[0] >= 0x80) {
        fprintf(stderr, "subscription refused for %s (0x%x)\n", c->user, n ? granted[0] : -1);
        c->state = ST_FAILED;
        return;
    }
    c->state = ST_READY;
}

static void on_receipt(const struct mosquitto_message *msg) {
    int len;
    const char *id = json_string(msg->payload, msg->payloadlen, "report_id", &len);
    long seq = id ? seq_of_report_id(id, len) : -1;
    if (seq < 0) {
        foreign_receipts++;
        return;
    }
    double t = now_s();
    step_t *s = &steps[seq_step[seq]];
    int slen;
    const char *status = json_string(msg->payload, msg->payloadlen, "status", &slen);
    s->receipts_total++;
    if (status && slen == 8 && memcmp(status, "accepted", 8) == 0) {
        s->accepted++;
        if (++nacc[seq] == 2) multi_accepted++;
    } else if (status && slen == 9 && memcmp(status, "duplicate", 9) == 0) {
        s->duplicate++;
    } else if (status && slen == 8 && memcmp(status, "rejected", 8) == 0) {
        s->rejected++;
    } else {
        s->other++;
    }
    if (nrec[seq]++ == 0) {
        s->receipted++;
        s->t_last_receipt = t;
        vec_push(&s->lat, (t - pub_t[seq]) * 1000.0);
    }
}

static void on_alert(const struct mosquitto_message *msg) {
    int len;
    const char *obs = json_string(msg->payload, msg->payloadlen, "observed_at", &len);
    long seq = obs ? seq_of_observed_at(obs, len) : -1;
    if (seq < 0) {
        if (cur >= 0) steps[cur].alerts_unmatched++;
        return;
    }
    step_t *s = &steps[seq_step[seq]];
    s->alerts++;
    if (memmem(msg->payload, msg->payloadlen, "\"case_id\":", 10)) s->alerts_case++;
    vec_push(&s->alert_lat, (now_s() - pub_t[seq]) * 1000.0);
}

static void on_message(struct mosquitto *m, void *ud, const struct mosquitto_message *msg,
                       const mosquitto_property *props) {
    (void)m;
    (void)props;
    conn_t *c = ud;
    if (c->kind == KIND_DEVICE) on_receipt(msg);
    else if (c->kind == KIND_CONSOLE) on_alert(msg);
}

static void on_disconnect(struct mosquitto *m, void *ud, int rc, const mosquitto_property *p) {
    (void)m;
    (void)p;
    conn_t *c = ud;
    if (c->kind == KIND_VOLUNTEER) {
        c->state = ST_DONE;
        return;
    }
    if (!stop_flag) {
        fprintf(stderr, "connection of %s lost: %s\n", c->user, mosquitto_reason_string(rc));
        connection_losses++;
        c->state = ST_FAILED;
    }
}

/* ------------------------------------------------------------------ connections */

static void open_conn(conn_t *c, bool clean) {
    c->m = mosquitto_new(c->user, clean, c);
    if (!c->m) die("mosquitto_new failed");
    mosquitto_int_option(c->m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    mosquitto_int_option(c->m, MOSQ_OPT_TCP_NODELAY, 1);
    mosquitto_int_option(c->m, MOSQ_OPT_SEND_MAXIMUM, 1000);
    mosquitto_int_option(c->m, MOSQ_OPT_RECEIVE_MAXIMUM, 1000);
    mosquitto_username_pw_set(c->m, c->user, c->pass);
    mosquitto_connect_v5_callback_set(c->m, on_connect);
    mosquitto_publish_v5_callback_set(c->m, on_publish);
    mosquitto_subscribe_callback_set(c->m, on_subscribe);
    mosquitto_message_v5_callback_set(c->m, on_message);
    mosquitto_disconnect_v5_callback_set(c->m, on_disconnect);
    c->state = ST_CONNECTING;
    int rc = mosquitto_connect_bind_v5(c->m, "127.0.0.1", port, 60, NULL, NULL);
    if (rc != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "cannot connect %s: %s\n", c->user, mosquitto_strerror(rc));
        c->state = ST_FAILED;
    }
}

static struct pollfd *pfds;
static int *pidx;
static double last_misc;

/* One round of I/O over every open connection, waiting at most timeout_ms. */
static void pump(int timeout_ms) {
    int n = 0;
    for (int i = 0; i < nconns; i++) {
        conn_t *c = &conns[i];
        if (!c->m || c->state == ST_FAILED || c->state == ST_NEW) continue;
        int fd = mosquitto_socket(c->m);
        if (fd < 0) continue;
        pfds[n].fd = fd;
        pfds[n].events = POLLIN | (mosquitto_want_write(c->m) ? POLLOUT : 0);
        pfds[n].revents = 0;
        pidx[n++] = i;
    }
    if (poll(pfds, n, timeout_ms) < 0 && errno != EINTR) die("poll failed");
    for (int k = 0; k < n; k++) {
        conn_t *c = &conns[pidx[k]];
        if (pfds[k].revents & (POLLIN | POLLHUP | POLLERR)) mosquitto_loop_read(c->m, 64);
        if (c->m && (pfds[k].revents & POLLOUT)) mosquitto_loop_write(c->m, 64);
    }
    double t = now_s();
    if (t - last_misc > 0.1) {
        last_misc = t;
        for (int i = 0; i < nconns; i++)
            if (conns[i].m && conns[i].state != ST_FAILED && conns[i].state != ST_NEW)
                mosquitto_loop_misc(conns[i].m);
    }
}

static int read_lines(const char *path, char ***out) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "cannot read %s: %s\n", path, strerror(errno));
        exit(2);
    }
    int n = 0, cap = 0;
    char **lines = NULL;
    char *line = NULL;
    size_t sz = 0;
    while (getline(&line, &sz, f) > 0) {
        if (line[0] == '\n' || line[0] == '#') continue;
        if (n == cap) lines = realloc(lines, (cap = cap ? cap * 2 : 256) * sizeof(char *));
        lines[n++] = strdup(line);
    }
    free(line);
    fclose(f);
    *out = lines;
    return n;
}

static void wait_states(int lo, int hi, int want, double timeout_s, const char *what) {
    double deadline = now_s() + timeout_s;
    for (;;) {
        int pending = 0;
        for (int i = lo; i < hi; i++) {
            if (conns[i].state == ST_FAILED) {
                fprintf(stderr, "%s failed for %s\n", what, conns[i].user);
                die(what);
            }
            pending += conns[i].state < want;
        }
        if (!pending) return;
        if (now_s() > deadline) die(what);
        pump(5);
    }
}

/* ------------------------------------------------------------------ load mode */

static int ndevices;

static void publish_one(step_t *s) {
    long seq = nseq;
    grow_seq(seq + 1);
    nseq++;
    conn_t *c = &conns[seq % ndevices];
    char rid[64], obs[48], topic[128], buf[1024];
    snprintf(rid, sizeof rid, "%s%012lx", prefix, seq);
    time_t secs = (time_t)(t0 + seq / 1000000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    int k = (int)strftime(obs, sizeof obs, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(obs + k, sizeof obs - k, ".%06ldZ", seq % 1000000);
    int len;
    if (c->station[0] != '-') {
        len = snprintf(buf, sizeof buf,
                       "{\"schema_version\":1,\"report_id\":\"%s\",\"device_id\":\"%s\","
                       "\"observed_at\":\"%s\",\"location\":{\"lat\":%.6f,\"lon\":%.6f,"
                       "\"accuracy_m\":50.0,\"source\":\"fixed\"},\"what_seen\":"
                       "\"carried_by_beggar\",\"child\":{\"age_band\":\"0-2\",\"sex\":"
                       "\"female\",\"clothing_colours\":[\"red\",\"white\"]},\"station_id\":"
                       "\"%s\",\"direction\":\"exit 2\",\"has_photo\":false}",
                       rid, c->user, obs, c->lat, c->lon, c->station);
    } else {
        len = snprintf(buf, sizeof buf,
                       "{\"schema_version\":1,\"report_id\":\"%s\",\"device_id\":\"%s\","
                       "\"observed_at\":\"%s\",\"location\":{\"lat\":%.6f,\"lon\":%.6f,"
                       "\"accuracy_m\":12.0,\"source\":\"gps\"},\"what_seen\":"
                       "\"with_adult_distressed\",\"child\":{\"age_band\":\"3-5\",\"sex\":"
                       "\"male\",\"clothing_colours\":[\"blue\"]},\"has_photo\":false}",
                       rid, c->user, obs, c->lat, c->lon);
    }
    snprintf(topic, sizeof topic, "sr/v1/devices/%s/reports", c->user);
    seq_step[seq] = (unsigned char)cur;
    pub_t[seq] = now_s();
    s->published++;
    if (mosquitto_publish_v5(c->m, NULL, topic, len, buf, 1, false, NULL) != MOSQ_ERR_SUCCESS)
        s->publish_errors++;
}

static int first_mover, nmovers;
static unsigned long rng_state = 88172645463325252UL;

static double jitter(void) { /* xorshift: uniform in [-1, 1) */
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state % 2000001UL) / 1000000.0 - 1.0;
}

static void publish_location(step_t *s) {
    conn_t *c = &conns[first_mover + (int)(s->loc_published % nmovers)];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char at[48], topic[128], buf[256];
    int k = (int)strftime(at, sizeof at, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(at + k, sizeof at - k, ".%06ldZ", ts.tv_nsec / 1000);
    /* a walk of up to ~100 m around the volunteer's home position */
    c->lat += jitter() * 0.0002;
    c->lon += jitter() * 0.0002;
    int len = snprintf(buf, sizeof buf,
                       "{\"schema_version\":1,\"lat\":%.6f,\"lon\":%.6f,\"at\":\"%s\","
                       "\"on_duty\":true,\"accuracy_m\":15.0}",
                       c->lat, c->lon, at);
    snprintf(topic, sizeof topic, "sr/v1/volunteers/%s/location", c->user);
    s->loc_published++;
    mosquitto_publish_v5(c->m, NULL, topic, len, buf, 1, false, NULL);
}

static void run_step(int i) {
    step_t *s = &steps[i];
    cur = i;
    s->first_seq = nseq;
    s->t_start = now_s();
    printf("{\"event\":\"step_start\",\"step\":%d,\"name\":\"%s\",\"rate\":%.1f}\n", i, s->name,
           s->rate);
    fflush(stdout);
    double end = s->t_start + s->duration, held_since = 0;
    for (double t = now_s(); t < end; t = now_s()) {
        long outstanding = s->published - s->receipted;
        long want = s->rate > 0 ? (long)(s->rate * (t - s->t_start)) - s->published
                                : s->max_outstanding - outstanding;
        long room = s->max_outstanding - outstanding;
        if (want > room) {
            want = room;
            if (!held_since) held_since = t;
            s->held = 1;
        } else if (held_since) {
            s->held_s += t - held_since;
            held_since = 0;
        }
        if (want > 200) want = 200;
        for (long k = 0; k < want; k++) publish_one(s);
        long loc_want = nmovers ? (long)(s->loc_rate * (t - s->t_start)) - s->loc_published : 0;
        if (loc_want > 400) loc_want = 400;
        for (long k = 0; k < loc_want; k++) publish_location(s);
        pump(want > 0 || loc_want > 0 ? 0 : 1);
    }
    if (held_since) s->held_s += now_s() - held_since;
    s->t_pub_end = now_s();
    double drain_end = s->t_pub_end + s->drain;
    while (s->receipted < s->published && now_s() < drain_end) pump(5);
    s->drained = s->receipted >= s->published;
    s->t_end = now_s();
    if (!s->t_last_receipt) s->t_last_receipt = s->t_end;
}

static void print_step(int i) {
    step_t *s = &steps[i];
    printf("{\"event\":\"step_end\",\"step\":%d,\"name\":\"%s\",\"first_seq\":%ld,"
           "\"rate\":%.1f,\"duration_s\":%.3f,"
           "\"max_outstanding\":%ld,\"published\":%ld,\"puback_ok\":%ld,\"puback_refused\":%ld,"
           "\"publish_errors\":%ld,\"receipted\":%ld,\"receipts_total\":%ld,\"accepted\":%ld,"
           "\"duplicate\":%ld,\"rejected\":%ld,\"other\":%ld,\"alerts\":%ld,\"alerts_case\":%ld,"
           "\"alerts_unmatched\":%ld,\"publish_s\":%.3f,\"until_last_receipt_s\":%.3f,"
           "\"elapsed_s\":%.3f,\"drained\":%s,\"held\":%s,\"held_s\":%.3f,"
           "\"locations_rate\":%.1f,\"locations_published\":%ld,\"locations_puback_ok\":%ld,"
           "\"locations_puback_refused\":%ld",
           i, s->name, s->first_seq, s->rate, s->duration, s->max_outstanding, s->published,
           s->puback_ok,
           s->puback_refused, s->publish_errors, s->receipted, s->receipts_total, s->accepted,
           s->duplicate, s->rejected, s->other, s->alerts, s->alerts_case, s->alerts_unmatched,
           s->t_pub_end - s->t_start, s->t_last_receipt - s->t_start, s->t_end - s->t_start,
           s->drained ? "true" : "false", s->held ? "true" : "false", s->held_s, s->loc_rate,
           s->loc_published, s->loc_puback_ok, s->loc_puback_refused);
    print_percentiles("receipt_ms", &s->lat);
    print_percentiles("alert_ms", &s->alert_lat);
    printf("}\n");
    fflush(stdout);
}

static int load_mode(char **argv) {
    char **dev, **con, **plan;
    ndevices = read_lines(argv[3], &dev);
    int ncons = read_lines(argv[4], &con);
    nsteps = read_lines(argv[5], &plan);
    char **mov = NULL;
    nmovers = argv[8] ? read_lines(argv[8], &mov) : 0;
    snprintf(prefix, sizeof prefix, "%s", argv[6]);
    t0 = atoll(argv[7]);
    if (ndevices < 1 || nsteps < 1 || nsteps > 250) die("need devices and 1..250 plan steps");
    nconns = ndevices + ncons + nmovers;
    first_mover = ndevices + ncons;
    conns = calloc(nconns, sizeof(conn_t));
    pfds = calloc(nconns, sizeof(struct pollfd));
    pidx = calloc(nconns, sizeof(int));
    steps = calloc(nsteps, sizeof(step_t));
    for (int i = 0; i < ndevices; i++) {
        conn_t *c = &conns[i];
        c->kind = KIND_DEVICE;
        if (sscanf(dev[i], "%71s %71s %lf %lf %23s", c->user, c->pass, &c->lon, &c->lat,
                   c->station) != 5)
            die("bad line in the devices file");
    }
    for (int i = 0; i < ncons; i++) {
        conn_t *c = &conns[ndevices + i];
        c->kind = KIND_CONSOLE;
        if (sscanf(con[i], "%71s %71s", c->user, c->pass) != 2) die("bad line in consoles file");
    }
    for (int i = 0; i < nmovers; i++) {
        conn_t *c = &conns[first_mover + i];
        c->kind = KIND_MOVER;
        if (sscanf(mov[i], "%71s %71s %lf %lf", c->user, c->pass, &c->lon, &c->lat) != 4)
            die("bad line in the movers file");
    }
    for (int i = 0; i < nsteps; i++) {
        step_t *s = &steps[i];
        if (sscanf(plan[i], "%31s %lf %lf %lf %ld %lf", s->name, &s->rate, &s->duration,
                   &s->drain, &s->max_outstanding, &s->loc_rate) < 5)
            die("bad line in the plan file");
        if (s->loc_rate > 0 && nmovers == 0) die("a step has a location rate but no movers");
    }
    for (int i = 0; i < nconns; i++) {
        open_conn(&conns[i], true);
        if (i % 50 == 49) pump(0);
    }
    wait_states(0, nconns, ST_CONNECTED, 60, "connecting");
    for (int i = 0; i < nconns; i++) {
        conn_t *c = &conns[i];
        char topic[128];
        if (c->kind == KIND_MOVER) {
            c->state = ST_READY;
            continue;
        }
        if (c->kind == KIND_DEVICE)
            snprintf(topic, sizeof topic, "sr/v1/devices/%s/receipts", c->user);
        else
            snprintf(topic, sizeof topic, "sr/v1/stations/%s/alerts", c->user);
        mosquitto_subscribe_v5(c->m, &c->sub_mid, topic, 1, 0, NULL);
    }
    wait_states(0, nconns, ST_READY, 60, "subscribing");
    printf("{\"event\":\"ready\",\"devices\":%d,\"consoles\":%d,\"movers\":%d}\n", ndevices,
           ncons, nmovers);
    fflush(stdout);
    double saturated_rate = 0; /* a fixed rate the system could not follow */
    int all_steps = getenv("BENCH_ALL_STEPS") != NULL; /* run higher fixed rates anyway */
    for (int i = 0; i < nsteps; i++) {
        step_t *s = &steps[i];
        if (!all_steps && s->rate > 0 && s->loc_rate <= 0 && saturated_rate > 0 &&
            s->rate > saturated_rate) {
            printf("{\"event\":\"step_end\",\"step\":%d,\"name\":\"%s\",\"rate\":%.1f,"
                   "\"skipped\":true,\"saturated_at\":%.1f}\n",
                   i, s->name, s->rate, saturated_rate);
            fflush(stdout);
            continue;
        }
        run_step(i);
        print_step(i);
        if (s->rate > 0 && s->loc_rate <= 0 && (s->held || !s->drained) && saturated_rate == 0)
            saturated_rate = s->rate;
    }
    double linger = now_s() + 1.0; /* a second receipt for a report would arrive by now */
    while (now_s() < linger) pump(5);
    long published = 0, receipted = 0, multi_receipts = 0;
    for (int i = 0; i < nsteps; i++) {
        published += steps[i].published;
        receipted += steps[i].receipted;
    }
    for (long q = 0; q < nseq; q++) multi_receipts += nrec[q] > 1;
    printf("{\"event\":\"done\",\"published\":%ld,\"receipted\":%ld,\"multi_accepted\":%ld,"
           "\"multi_receipts\":%ld,\"foreign_receipts\":%ld,\"connection_losses\":%ld}\n",
           published, receipted, multi_accepted, multi_receipts, foreign_receipts,
           connection_losses);
    fflush(stdout);
    stop_flag = 1;
    for (int i = 0; i < nconns; i++) mosquitto_disconnect_v5(conns[i].m, 0, NULL);
    for (int k = 0; k < 20; k++) pump(1);
    return 0;
}

/* ------------------------------------------------------------------ echo mode */

static void echo_message(struct mosquitto *m, void *ud, const struct mosquitto_message *msg,
                         const mosquitto_property *props) {
    (void)ud;
    (void)props;
    /* sr/v1/devices/{id}/reports */
    const char *dev = msg->topic + 14;
    const char *slash = strchr(dev, '/');
    if (strncmp(msg->topic, "sr/v1/devices/", 14) != 0 || !slash) return;
    int dlen = (int)(slash - dev), rlen = 0;
    const char *rid = json_string(msg->payload, msg->payloadlen, "report_id", &rlen);
    if (!rid) {
        rid = "";
        rlen = 0;
    }
    char topic[128], buf[256];
    snprintf(topic, sizeof topic, "sr/v1/devices/%.*s/receipts", dlen, dev);
    int len = snprintf(buf, sizeof buf,
                       "{\"schema_version\":1,\"report_id\":\"%.*s\",\"device_id\":\"%.*s\","
                       "\"status\":\"accepted\",\"reference\":\"ECHO\"}",
                       rlen, rid, dlen, dev);
    mosquitto_publish_v5(m, NULL, topic, len, buf, 1, false, NULL);
}

static void echo_subscribed(struct mosquitto *m, void *ud, int mid, int n, const int *granted) {
    (void)m;
    (void)ud;
    (void)mid;
    if (n < 1 || granted[0] >= 0x80) die("the echo consumer's subscription was refused");
    printf("{\"event\":\"ready\"}\n");
    fflush(stdout);
}

static void echo_connected(struct mosquitto *m, void *ud, int rc, int flags,
                           const mosquitto_property *props) {
    (void)ud;
    (void)flags;
    (void)props;
    if (rc != 0) die("the echo consumer's connection was refused");
    mosquitto_subscribe_v5(m, NULL, "$share/backend/sr/v1/devices/+/reports", 1, 0, NULL);
}

static void on_term(int sig) {
    (void)sig;
    stop_flag = 1;
}

static int echo_mode(char **argv) {
    struct mosquitto *m = mosquitto_new(argv[3], true, NULL);
    mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    mosquitto_int_option(m, MOSQ_OPT_TCP_NODELAY, 1);
    mosquitto_int_option(m, MOSQ_OPT_SEND_MAXIMUM, 1000);
    mosquitto_int_option(m, MOSQ_OPT_RECEIVE_MAXIMUM, 1000);
    mosquitto_username_pw_set(m, argv[3], argv[4]);
    mosquitto_connect_v5_callback_set(m, echo_connected);
    mosquitto_subscribe_callback_set(m, echo_subscribed);
    mosquitto_message_v5_callback_set(m, echo_message);
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    if (mosquitto_connect_bind_v5(m, "127.0.0.1", port, 60, NULL, NULL) != MOSQ_ERR_SUCCESS)
        die("the echo consumer cannot connect");
    while (!stop_flag) {
        int rc = mosquitto_loop(m, 100, 64);
        if (rc != MOSQ_ERR_SUCCESS && !stop_flag) die("the echo consumer lost its connection");
    }
    mosquitto_disconnect_v5(m, 0, NULL);
    return 0;
}

/* ------------------------------------------------------------------ positions mode */

static int positions_mode(char **argv) {
    char **vol;
    nconns = read_lines(argv[3], &vol);
    int concurrency = atoi(argv[4]);
    conns = calloc(nconns, sizeof(conn_t));
    pfds = calloc(nconns, sizeof(struct pollfd));
    pidx = calloc(nconns, sizeof(int));
    for (int i = 0; i < nconns; i++) {
        conn_t *c = &conns[i];
        c->kind = KIND_VOLUNTEER;
        c->payload = calloc(1, strlen(vol[i]) + 1);
        if (sscanf(vol[i], "%71s %71s %s", c->user, c->pass, c->payload) != 3)
            die("bad line in the volunteers file");
    }
    int next = 0, active = 0;
    double deadline = now_s() + 300;
    while (next < nconns || active > 0) {
        while (next < nconns && active < concurrency) {
            open_conn(&conns[next++], true);
            active++;
        }
        pump(2);
        active = 0;
        for (int i = 0; i < next; i++) {
            conn_t *c = &conns[i];
            if (!c->m) continue;
            if (c->state == ST_FAILED) die("a volunteer could not publish its position");
            if (c->state == ST_DONE && !mosquitto_want_write(c->m)) {
                mosquitto_destroy(c->m);
                c->m = NULL;
            } else {
                active++;
            }
        }
        if (now_s() > deadline) die("publishing positions took over 300 s");
    }
    printf("{\"event\":\"positions_done\",\"published\":%ld,\"refused\":%ld}\n", positions_ok,
           positions_refused);
    fflush(stdout);
    return positions_refused ? 1 : 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    if (argc < 3) {
        fprintf(stderr, "usage: loader load|echo|positions PORT ...\n");
        return 2;
    }
    port = atoi(argv[2]);
    mosquitto_lib_init();
    int rc;
    if (strcmp(argv[1], "load") == 0 && (argc == 8 || argc == 9)) rc = load_mode(argv);
    else if (strcmp(argv[1], "echo") == 0 && argc == 5) rc = echo_mode(argv);
    else if (strcmp(argv[1], "positions") == 0 && argc == 5) rc = positions_mode(argv);
    else {
        fprintf(stderr, "usage: see the comment at the top of bench/loader.c\n");
        rc = 2;
    }
    mosquitto_lib_cleanup();
    return rc;
}
