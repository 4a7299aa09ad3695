package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// parseSize reads a byte count for a flag such as --max-output: a whole
// number with an optional binary suffix, K, M, G or T (KiB, MiB, ... and
// KB, MB, ... read the same, powers of 1024: these are limits on memory and
// disk, which the user thinks of in MiB). "0" is allowed; what it means is
// the caller's. go-humanize's ParseBytes was not used because it reads "64M"
// as 64,000,000.
func parseSize(s, flag string) (int64, error) {
	t := strings.TrimSpace(s)
	num := strings.TrimRightFunc(t, func(r rune) bool { return r < '0' || r > '9' })
	unit := strings.ToUpper(strings.TrimSpace(t[len(num):]))
	shift := 0
	switch strings.TrimSuffix(strings.TrimSuffix(unit, "B"), "I") {
	case "":
		if unit != "" && unit != "B" {
			return 0, usageError("%s: %q is not a size (like 512K, 64M, 1G)", flag, s)
		}
	case "K":
		shift = 10
	case "M":
		shift = 20
	case "G":
		shift = 30
	case "T":
		shift = 40
	default:
		return 0, usageError("%s: %q is not a size (like 512K, 64M, 1G)", flag, s)
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || num == "" || strings.ContainsAny(num[:1], "+-") {
		return 0, usageError("%s: %q is not a size (like 512K, 64M, 1G)", flag, s)
	}
	if n > math.MaxInt64>>shift {
		return 0, usageError("%s: %q is too large", flag, s)
	}
	return n << shift, nil
}

// formatSize writes a byte count the way parseSize reads it back where it
// can ("16M"), else to one decimal ("47.7M"), for messages.
func formatSize(n int64) string {
	const units = "KMGT"
	if n < 1024 {
		return strconv.FormatInt(n, 10) + "B"
	}
	v, i := float64(n)/1024, 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if n%(1<<(10*(i+1))) == 0 {
		return fmt.Sprintf("%d%c", n>>(10*(i+1)), units[i])
	}
	return fmt.Sprintf("%.1f%c", v, units[i])
}
