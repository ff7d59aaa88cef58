/* smtp_server_priv.h - the SMTP server engine's state, shared by its
 * files: smtp_server.c (session life, replies, deadlines, input, the end
 * of a message) and smtp_server_cmd.c (the dispatch of a command line,
 * the commands and their parameters: RFC 5321 4.1.1 and 4.1.2, RFC 1870,
 * 3461, 6710, 2852, 3030, 6531). */
#ifndef SMTPGW_SMTP_SERVER_PRIV_H
#define SMTPGW_SMTP_SERVER_PRIV_H

#include "smtp-gw/smtpgw.h"

enum in_mode {
    IN_LINE = 0, /* reading a command line */
    IN_DISCARD,  /* discarding the rest of an over-long command line */
    IN_DATA,     /* reading DATA text */
    IN_CHUNK     /* reading the octets of a BDAT chunk */
};

enum data_state {
    DS_BOL = 0, /* at the beginning of a line */
    DS_DOT,     /* "." at the beginning of a line */
    DS_DOT_CR,  /* ".\r" at the beginning of a line */
    DS_MID,     /* inside a line */
    DS_CR       /* "\r" inside a line */
};

enum data_err {
    DE_NONE = 0,
    DE_TOO_BIG,   /* more than max_message */
    DE_BARE,      /* bare CR or LF */
    DE_LONG_LINE, /* a line longer than max_text_line */
    DE_NOMEM      /* allocation failed */
};

/* What to log only once per session (CONTRIBUTING: once per peer and event). */
#define LOGGED_LONG_LINE 0x1u
#define LOGGED_BARE_LF   0x2u
#define LOGGED_CTRL      0x4u

struct smtpgw_session {
    struct smtpgw_callbacks cb;
    void *user;
    struct smtpgw_limits lim;
    char hostname[256];
    uint64_t id;
    enum smtpgw_state state;
    enum in_mode in;
    util_ms now;        /* of the call being handled */
    util_ms last_input; /* the idle timeout runs from here */
    struct util_ratelimit *log_limits;
    unsigned bad;    /* bad commands so far */
    unsigned logged; /* LOGGED_* */
    bool esmtp;      /* EHLO seen (kept across transactions) */
    bool in_txn;     /* MAIL accepted */

    /* the command line being read */
    char *line;
    size_t line_len;
    size_t line_cap;    /* max_cmd_line - 1: the content and its CR */
    bool line_started;  /* part of a command line is in: its deadline runs */
    util_ms line_start; /* when its first byte came */

    /* what MAIL / RCPT's check parsed, for its proceed */
    char path[MULE_MAX_PATH + 1];
    char *params; /* normalised parameters (single spaces), line_cap bytes */
    struct smtpgw_txn pend;
    unsigned pend_notify;
    const char *pend_orcpt; /* into params */
    size_t pend_orcpt_len;

    /* the transaction */
    struct smtpgw_txn txn;
    size_t rcpt_cap;

    /* DATA */
    enum data_state ds;
    size_t dline; /* octets of the current line on the wire */
    enum data_err derr;
    uint64_t dbytes; /* octets of message text received */

    /* the DATA or BDAT transfer in progress: its deadline */
    bool xfer;
    util_ms xfer_start;
    uint64_t xfer_bytes; /* octets of it received so far */

    /* BDAT */
    uint64_t chunk_left;
    uint64_t chunk_size;
    bool chunk_last;
    int chunk_code;        /* reply code for a chunk that is discarded, 0 if kept */
    const char *chunk_msg; /* its text */

    /* a message handed to the user that has not been answered yet
     * (SMTPGW_MESSAGE_PENDING): input that arrives meanwhile waits here */
    bool waiting;
    struct util_buf held;
    bool input_ended; /* the client's input ended (EOF) while a message waited */
    bool quit;        /* QUIT received */

    /* counters */
    uint64_t messages_accepted;
    uint64_t messages_rejected;
};

/* ---- smtp_server.c --------------------------------------------------------------------- */

/* smtpd_session_set_state - the one place the state changes; logs the transition */
void smtpd_session_set_state(struct smtpgw_session *s, enum smtpgw_state st);

/* smtpd_reply - send one reply line "code text" (text carries the enhanced code) */
void smtpd_reply(struct smtpgw_session *s, int code, const char *fmt, ...) UTIL_PRINTF(3, 4);

/* smtpd_reply_raw - send prepared reply lines (the EHLO response) */
void smtpd_reply_raw(struct smtpgw_session *s, const char *text, size_t len);

/* smtpd_session_close - the session ends: state CLOSED and the close callback, once */
void smtpd_session_close(struct smtpgw_session *s, const char *why);

/* smtpd_reply_user - reply with a code and text a user callback gave (checked) */
void smtpd_reply_user(struct smtpgw_session *s, int code, char *text, const char *def4, const char *def5);

/* smtpd_txn_clear - forget the transaction (helo, peer and session id stay) */
void smtpd_txn_clear(struct smtpgw_session *s);

/* smtpd_txn_reset - end the transaction and go back to HELO (INIT before EHLO) */
void smtpd_txn_reset(struct smtpgw_session *s);

/* smtpd_chunk_done - the whole chunk is in: reply, or finish the message */
void smtpd_chunk_done(struct smtpgw_session *s);

/* smtpd_log_once - a bad-input event, logged once per session (and rate-limited per client) */
void smtpd_log_once(struct smtpgw_session *s, unsigned bit, const char *what);

/* ---- smtp_server_cmd.c ----------------------------------------------------------------- */

/* smtpd_process_line - dispatch one command line (CRLF removed) through the table */
void smtpd_process_line(struct smtpgw_session *s, char *line, size_t len);

#endif
