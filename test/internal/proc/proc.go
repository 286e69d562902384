// Package proc reads a process's memory figures from /proc for the benchmarks, the soak and
// the end-to-end tests.
package proc

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// StatusKiB is a kB field of /proc/<pid>/status, e.g. "VmRSS" (resident now) or "VmHWM"
// (peak resident); -1 when it cannot be read.
func StatusKiB(pid int, field string) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == field+":" {
			if v, err := strconv.Atoi(f[1]); err == nil {
				return v
			}
		}
	}
	return -1
}
