/* serial.c - open a serial line to a STANAG 5066 server or HF modem:
 * 8 data bits, no parity, 1 stop bit (8N1), optional RTS/CTS, raw mode,
 * non-blocking.  The SIS byte stream (Annex A.2.1, "S_Primitive" framing
 * over an asynchronous line) is read and written by the link glue.
 *
 * Real ports go through libserialport.  libserialport 0.1.1 cannot open a
 * pseudo-terminal (it needs a sysfs entry and TIOCMGET fails), so a pty --
 * what socat and ser2net give -- is opened with plain termios instead.
 */
#include "s5066/s5066.h"

#include <errno.h>
#include <fcntl.h>
#include <libserialport.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

/* serial_speed - the termios constant for a baud rate, or 0 */
static speed_t serial_speed(int baud)
{
    static const struct {
        int baud;
        speed_t speed;
    } table[] = {
        {75, B75},         {150, B150},       {300, B300},       {600, B600},
        {1200, B1200},     {2400, B2400},     {4800, B4800},     {9600, B9600},
        {19200, B19200},   {38400, B38400},   {57600, B57600},   {115200, B115200},
        {230400, B230400}, {460800, B460800}, {921600, B921600},
    };
    for (size_t i = 0; i < UTIL_ARRAY_LEN(table); i++)
        if (table[i].baud == baud)
            return table[i].speed;
    return 0;
}

/* serial_open_termios - open and configure a tty (or pty) with termios */
static int serial_open_termios(struct s5066_serial *s, const char *path, int baud, bool rtscts,
                               char *err, size_t errlen)
{
    speed_t speed = serial_speed(baud);
    if (!speed) {
        snprintf(err, errlen, "%s: unsupported baud rate %d", path, baud);
        return S5066_ERR_INVAL;
    }
    int fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return S5066_ERR_LINK;
    }
    struct termios t;
    if (tcgetattr(fd, &t) != 0) {
        snprintf(err, errlen, "%s: not a terminal: %s", path, strerror(errno));
        close(fd);
        return S5066_ERR_LINK;
    }
    cfmakeraw(&t);
    t.c_cflag &= ~(tcflag_t)(CSIZE | PARENB | CSTOPB | CRTSCTS);
    t.c_cflag |= CS8 | CLOCAL | CREAD;
    if (rtscts)
        t.c_cflag |= CRTSCTS;
    t.c_iflag &= ~(tcflag_t)(IXON | IXOFF | IXANY);
    t.c_cc[VMIN] = 0;
    t.c_cc[VTIME] = 0;
    cfsetispeed(&t, speed);
    cfsetospeed(&t, speed);
    if (tcsetattr(fd, TCSANOW, &t) != 0) {
        snprintf(err, errlen, "%s: cannot configure: %s", path, strerror(errno));
        close(fd);
        return S5066_ERR_LINK;
    }
    s->fd = fd;
    s->port = NULL;
    return 0;
}

/* serial_open_libserialport - open a real serial port through libserialport */
static int serial_open_libserialport(struct s5066_serial *s, const char *path, int baud, bool rtscts,
                                     char *err, size_t errlen)
{
    struct sp_port *port = NULL;
    if (sp_get_port_by_name(path, &port) != SP_OK) {
        snprintf(err, errlen, "%s: no such serial port", path);
        return S5066_ERR_LINK;
    }
    enum sp_return rc = sp_open(port, SP_MODE_READ_WRITE);
    if (rc == SP_OK)
        rc = sp_set_baudrate(port, baud);
    if (rc == SP_OK)
        rc = sp_set_bits(port, 8);
    if (rc == SP_OK)
        rc = sp_set_parity(port, SP_PARITY_NONE);
    if (rc == SP_OK)
        rc = sp_set_stopbits(port, 1);
    if (rc == SP_OK)
        rc = sp_set_flowcontrol(port, rtscts ? SP_FLOWCONTROL_RTSCTS : SP_FLOWCONTROL_NONE);
    int fd = -1;
    if (rc == SP_OK && sp_get_port_handle(port, &fd) != SP_OK)
        rc = SP_ERR_FAIL;
    if (rc != SP_OK) {
        char *msg = sp_last_error_message();
        snprintf(err, errlen, "%s: %s", path, msg ? msg : "libserialport error");
        sp_free_error_message(msg);
        sp_close(port);
        sp_free_port(port);
        return S5066_ERR_LINK;
    }
    /* libev drives the descriptor: make it non-blocking ourselves */
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        sp_close(port);
        sp_free_port(port);
        return S5066_ERR_LINK;
    }
    s->fd = fd;
    s->port = port;
    return 0;
}

/* serial_is_pty - whether path names a pseudo-terminal (Unix98 /dev/pts/N or a link to one) */
static bool serial_is_pty(const char *path)
{
    char real[4096];
    if (!realpath(path, real))
        return false;
    return strncmp(real, "/dev/pts/", 9) == 0;
}

/* s5066_serial_open - open a serial line 8N1 non-blocking; 0 or negative with err filled */
int s5066_serial_open(struct s5066_serial *s, const char *path, int baud, bool rtscts, char *err,
                      size_t errlen)
{
    s->fd = -1;
    s->port = NULL;
    if (!serial_speed(baud)) {
        snprintf(err, errlen, "%s: unsupported baud rate %d", path, baud);
        return S5066_ERR_INVAL;
    }
    if (serial_is_pty(path))
        return serial_open_termios(s, path, baud, rtscts, err, errlen);
    int rc = serial_open_libserialport(s, path, baud, rtscts, err, errlen);
    if (rc == 0)
        return 0;
    /* not a port libserialport knows (a pty under another name, a
     * ser2net/socat link): plain termios may still do */
    char first[256];
    snprintf(first, sizeof first, "%s", err);
    rc = serial_open_termios(s, path, baud, rtscts, err, errlen);
    if (rc != 0 && first[0]) {
        char both[512];
        snprintf(both, sizeof both, "%s (libserialport: %s)", err, first);
        snprintf(err, errlen, "%s", both);
    }
    return rc;
}

/* s5066_serial_close - close the line */
void s5066_serial_close(struct s5066_serial *s)
{
    if (s->port) {
        sp_close(s->port);
        sp_free_port(s->port);
    } else if (s->fd >= 0) {
        close(s->fd);
    }
    s->fd = -1;
    s->port = NULL;
}

/* s5066_serial_baud_ok - whether a baud rate is supported */
bool s5066_serial_baud_ok(int baud)
{
    return serial_speed(baud) != 0;
}
