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
// The package never draws on the terminal: progress and output reach the
// caller as events and per-host writers.
package fleet
