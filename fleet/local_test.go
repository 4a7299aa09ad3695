package fleet

import (
	"io"
	"os/exec"
	"testing"

	"github.com/fleet-sh/fleet/inventory"
)

type hostT = inventory.Host

// execLocal runs a line with the local /bin/sh, to check quoting.
func execLocal(t *testing.T, line string, out io.Writer) error {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", line)
	cmd.Stdout = out
	return cmd.Run()
}
