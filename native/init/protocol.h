/*
 * The exec protocol between the bothub daemon and bothub-init.
 * Mirrored in src/runtime/exec/protocol.ts; src/test/init-protocol.test.ts
 * parses this file and fails when the two disagree.
 *
 * A frame is: 1 byte type, 4 bytes big-endian payload length, payload.
 *
 * Client -> init
 *   'R' request: NUL-terminated fields
 *       version ("1"), cwd, tty ("0"/"1"), rows, cols,
 *       log path ("" = attached; else detached, output appended there),
 *       exit path (detached only: "<code> <signal>\n" written there on exit),
 *       argc, argv[0..argc), envc, env[0..envc)
 *   'I' stdin bytes      'E' stdin closed
 *   'W' resize: rows u16, cols u16 (big-endian)
 *   'K' signal: i32 (sent to the command's process group)
 *
 * Init -> client
 *   'P' started: i32 pid (detached requests get this, then the connection closes)
 *   'O' stdout bytes (the terminal's output in tty mode)   'F' stderr bytes
 *   'X' exited: i32 exit code (-1 when killed), i32 signal (0 when it exited)
 *   'Z' error: UTF-8 message; an 'X' with code 126 or 127 follows
 */
#ifndef BOTHUB_PROTOCOL_H
#define BOTHUB_PROTOCOL_H

/* The first field of every request. */
#define PROTOCOL_VERSION "1"

#define FRAME_HEADER 5
#define FRAME_MAX (1024 * 1024)

#define T_REQUEST 'R'
#define T_STDIN 'I'
#define T_STDIN_EOF 'E'
#define T_RESIZE 'W'
#define T_SIGNAL 'K'

#define T_STARTED 'P'
#define T_STDOUT 'O'
#define T_STDERR 'F'
#define T_EXIT 'X'
#define T_ERROR 'Z'

#endif
