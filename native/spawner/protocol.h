/*
 * The protocol between the bothub daemon and bothub-spawner, the helper that
 * starts the daemon's host commands (mount, ip, runc...) with posix_spawn so
 * the daemon itself never forks (a fork copies its whole memory map while its
 * event loop waits). Mirrored in src/hostexec/spawner-protocol.ts;
 * src/test/spawner-protocol.test.ts parses this file and fails when the two
 * disagree.
 *
 * The daemon writes frames to the spawner's stdin and reads frames from its
 * stdout. A frame is: 1 byte type, 4 bytes big-endian command id, 4 bytes
 * big-endian payload length, payload.
 *
 * Daemon -> spawner
 *   'R' run: NUL-terminated fields
 *       version ("1"), cwd ("" = the spawner's own),
 *       stdin ("0" = /dev/null, "1" = a pipe fed by 'I' frames),
 *       argc, argv[0..argc), envc, env[0..envc)
 *       argv[0] without a '/' is looked up in env's PATH (default /usr/bin:/bin).
 *   'I' stdin bytes      'E' stdin closed
 *   'K' kill: i32 signal, sent to the command's process
 *
 * Spawner -> daemon
 *   'P' started: i32 pid
 *   'Z' not started: i32 errno (EPROTO: a request this spawner cannot read);
 *       nothing more comes for that id
 *   'O' stdout bytes     'F' stderr bytes
 *   'X' exited: i32 exit code (-1 when killed), i32 signal (0 when it exited);
 *       sent once the command has exited AND closed its stdout and stderr,
 *       so every output frame comes before it
 */
#ifndef BOTHUB_SPAWNER_PROTOCOL_H
#define BOTHUB_SPAWNER_PROTOCOL_H

/* The first field of every run request. */
#define SPAWNER_PROTOCOL_VERSION "1"

#define SPAWNER_FRAME_HEADER 9
#define SPAWNER_FRAME_MAX (1024 * 1024)

#define S_RUN 'R'
#define S_STDIN 'I'
#define S_STDIN_EOF 'E'
#define S_KILL 'K'

#define S_STARTED 'P'
#define S_FAILED 'Z'
#define S_STDOUT 'O'
#define S_STDERR 'F'
#define S_EXIT 'X'

#endif
