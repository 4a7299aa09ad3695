package fleet

import (
	"io"

	"github.com/fleet-sh/fleet/fleet/internal/lightcopy"
)

// copySmall copies a command's output stream into w with little memory;
// see lightcopy.Copy.
func copySmall(w io.Writer, r io.Reader) (int64, error) { return lightcopy.Copy(w, r) }
