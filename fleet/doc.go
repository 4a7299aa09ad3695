// Package fleet is the engine of the fleet command: it is the only package
// that speaks SSH.
//
// A [Dialer] is built once per run from the user's options (identities,
// ssh_config, known_hosts) and opens one [Conn] per host; [Run] drives a
// sliding window of workers over the hosts and returns one [Result] per host,
// at the host's index, whatever happens to the others. Errors are classified
// once, by [Classify], into a small vocabulary ([ErrUnreachable], [ErrAuth],
// [ErrHostKey], [ErrTimeout], [ErrCancelled], and [*ExitError] for a remote
// command that ran and failed) so that callers decide with errors.Is and
// errors.As. Each [Result] says its failure's [Result.Kind] in that
// vocabulary's words. The run record that keeps every run on disk is
// fleet/record, which knows nothing of SSH.
//
// Where things are: how a command runs is fleet/command.go ([Remote.Exec]
// and the one kill path), with its two carriers in session.go (an SSH
// session per command, [Conn]) and shell.go (a long-lived shell,
// [Shells]); how a file is put is fleet/put.go ([Remote.Put], MkdirAll,
// PutLink), over the same [Remote], with the SFTP transfer in sftp.go; how
// an error is named is fleet/classify.go, the one place that reads error
// text.
//
// The package never draws on the terminal: progress and output reach the
// caller as events and per-host writers.
package fleet
